// The quad attention forward (attention_quad_forward.wgsl, attention_quad_forward_f16.wgsl):
// 64 query rows per workgroup of 256, four lanes per row holding 16 values each of q and of
// the output; keys and values staged QTILE at a time; one online softmax per row (each lane
// of a quad keeps the same running maximum and sum). The including file declares the
// bindings (qkv4, out, lse), `alias stage4` and `fn operand4` (lib/attention_quads.wgsl).

fn quad_forward(wg: vec3<u32>, nwg: vec3<u32>, li: u32, sid: u32, lane: u32, sg_size: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; } // the whole workgroup
    let r = quad_row(blk, sid, lane, sg_size);
    let b = r.b;
    let h = r.h;
    let row = r.row;
    let i = r.i;
    let c0 = r.c0;
    let qo = qkv_offset(b, i, 0u, h) / 4u + c0;
    let q0 = operand4(qkv4[qo]) * p.scale;
    let q1 = operand4(qkv4[qo + 1u]) * p.scale;
    let q2 = operand4(qkv4[qo + 2u]) * p.scale;
    let q3 = operand4(qkv4[qo + 3u]) * p.scale;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    let j_end = key_end(blk.y);
    var m = -1.0e30;
    var l = 0.0;
    for (var j0 = 0u; j0 < j_end; j0 += QTILE) {
        stage_keys_values4(b, h, j0, li);
        workgroupBarrier();
        let n = min(QTILE, j_end - j0);
        for (var t = 0u; t < n; t++) {
            let k = t * ROW4 + c0;
            let s = quad_sum(part_dot_a(q0, q1, q2, q3, k), lane);
            // Masked keys change nothing (branch-free: the quad's lanes keep shuffling together).
            let ok = attends(i, j0 + t);
            let m_new = select(m, max(m, s), ok);
            let correction = exp(m - m_new);
            let w = select(0.0, exp(s - m_new), ok);
            l = l * correction + w;
            a0 = a0 * correction + w * staged_b(k);
            a1 = a1 * correction + w * staged_b(k + 1u);
            a2 = a2 * correction + w * staged_b(k + 2u);
            a3 = a3 * correction + w * staged_b(k + 3u);
            m = m_new;
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        var inv_l = 0.0;
        if (l > 0.0) { inv_l = 1.0 / l; }
        let oo = ((b * p.tokens + i) * p.heads + h) * ROW4 + c0;
        out[oo] = a0 * inv_l;
        out[oo + 1u] = a1 * inv_l;
        out[oo + 2u] = a2 * inv_l;
        out[oo + 3u] = a3 * inv_l;
        if (c0 == 0u) {
            var row_lse = 0.0;
            if (l > 0.0) { row_lse = m + log(l); }
            lse[(b * p.heads + h) * p.tokens + i] = row_lse;
        }
    }
}
