// attention_forward for GPUs with subgroups, head_dim 64 (lib/attention_quads.wgsl): 64 query
// rows per workgroup of 256, four lanes per row holding 16 values each of q and of the
// output; keys and values staged QTILE at a time; one online softmax per row (each lane of a
// quad keeps the same running maximum and sum). Same outputs as attention_forward.wgsl.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;      // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;       // [batch, heads, tokens]

// #import attention_quads

@compute @workgroup_size(256)
fn attention_forward_quad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                          @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; } // the whole workgroup
    let r = quad_row(blk, sid, lane, sg_size);
    let b = r.b;
    let h = r.h;
    let row = r.row;
    let i = r.i;
    let c0 = r.c0;
    let qo = qkv_offset(b, i, 0u, h) / 4u + c0;
    let q0 = qkv4[qo] * p.scale;
    let q1 = qkv4[qo + 1u] * p.scale;
    let q2 = qkv4[qo + 2u] * p.scale;
    let q3 = qkv4[qo + 3u] * p.scale;
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
            a0 = a0 * correction + w * qtile_b[k];
            a1 = a1 * correction + w * qtile_b[k + 1u];
            a2 = a2 * correction + w * qtile_b[k + 2u];
            a3 = a3 * correction + w * qtile_b[k + 3u];
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
