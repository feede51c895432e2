// The quad attention backward (attention_quad_backward.wgsl, attention_quad_backward_f16.wgsl),
// the formulas of attention_backward.wgsl, four lanes per row holding 16 values each:
//   quad_backward_query: 64 query rows per workgroup (q, dO and dq in registers); keys and
//   values staged QTILE at a time;
//   quad_backward_key_value: 64 key rows per workgroup (k, v, dk, dv in registers); queries'
//   q and dO rows staged QTILE at a time, with their lse and D = dO . O.
// Each quad owns its outputs: deterministic, no atomics. The including file declares the
// bindings (qkv4, out, lse, dout, dqkv), `alias stage4` and `fn operand4`
// (lib/attention_quads.wgsl); O and lse are read as they are.

var<workgroup> tile_lse: array<f32, QTILE>;
var<workgroup> tile_d: array<f32, QTILE>;

fn out_offset4(b: u32, t: u32, h: u32) -> u32 {
    return ((b * p.tokens + t) * p.heads + h) * ROW4;
}

fn quad_backward_query(wg: vec3<u32>, nwg: vec3<u32>, li: u32, sid: u32, lane: u32, sg_size: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; }
    let r = quad_row(blk, sid, lane, sg_size);
    let b = r.b;
    let h = r.h;
    let row = r.row;
    let i = r.i;
    let c0 = r.c0;
    let qo = qkv_offset(b, i, 0u, h) / 4u + c0;
    let oo = out_offset4(b, i, h) + c0;
    let q0 = operand4(qkv4[qo]);
    let q1 = operand4(qkv4[qo + 1u]);
    let q2 = operand4(qkv4[qo + 2u]);
    let q3 = operand4(qkv4[qo + 3u]);
    let g0 = operand4(dout[oo]);
    let g1 = operand4(dout[oo + 1u]);
    let g2 = operand4(dout[oo + 2u]);
    let g3 = operand4(dout[oo + 3u]);
    let di = quad_sum(dot(g0, out[oo]) + dot(g1, out[oo + 1u]) + dot(g2, out[oo + 2u]) + dot(g3, out[oo + 3u]), lane);
    var dq0 = vec4<f32>(0.0);
    var dq1 = vec4<f32>(0.0);
    var dq2 = vec4<f32>(0.0);
    var dq3 = vec4<f32>(0.0);
    let row_lse = lse[(b * p.heads + h) * p.tokens + i];
    let j_end = key_end(blk.y);
    for (var j0 = 0u; j0 < j_end; j0 += QTILE) {
        stage_keys_values4(b, h, j0, li);
        workgroupBarrier();
        let n = min(QTILE, j_end - j0);
        for (var t = 0u; t < n; t++) {
            let k = t * ROW4 + c0;
            let s = quad_sum(part_dot_a(q0, q1, q2, q3, k), lane);
            let dp = quad_sum(part_dot_b(g0, g1, g2, g3, k), lane);
            let ds = select(0.0, exp(p.scale * s - row_lse) * (dp - di) * p.scale, attends(i, j0 + t));
            dq0 = fma(vec4<f32>(ds), staged_a(k), dq0);
            dq1 = fma(vec4<f32>(ds), staged_a(k + 1u), dq1);
            dq2 = fma(vec4<f32>(ds), staged_a(k + 2u), dq2);
            dq3 = fma(vec4<f32>(ds), staged_a(k + 3u), dq3);
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        dqkv[qo] = dq0;
        dqkv[qo + 1u] = dq1;
        dqkv[qo + 2u] = dq2;
        dqkv[qo + 3u] = dq3;
    }
}

fn quad_backward_key_value(wg: vec3<u32>, nwg: vec3<u32>, li: u32, sid: u32, lane: u32, sg_size: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; }
    let r = quad_row(blk, sid, lane, sg_size);
    let b = r.b;
    let h = r.h;
    let row = r.row;
    let j = r.i;
    let c0 = r.c0;
    let ko = qkv_offset(b, j, 1u, h) / 4u + c0;
    let vo = ko + p.heads * ROW4;
    let k0 = operand4(qkv4[ko]);
    let k1 = operand4(qkv4[ko + 1u]);
    let k2 = operand4(qkv4[ko + 2u]);
    let k3 = operand4(qkv4[ko + 3u]);
    let v0 = operand4(qkv4[vo]);
    let v1 = operand4(qkv4[vo + 1u]);
    let v2 = operand4(qkv4[vo + 2u]);
    let v3 = operand4(qkv4[vo + 3u]);
    var dk0 = vec4<f32>(0.0);
    var dk1 = vec4<f32>(0.0);
    var dk2 = vec4<f32>(0.0);
    var dk3 = vec4<f32>(0.0);
    var dv0 = vec4<f32>(0.0);
    var dv1 = vec4<f32>(0.0);
    var dv2 = vec4<f32>(0.0);
    var dv3 = vec4<f32>(0.0);
    for (var i0 = 0u; i0 < p.tokens; i0 += QTILE) {
        // Queries i0 .. i0 + QTILE: q rows and dO rows, then their lse and D = dO . O.
        for (var e = li; e < QTILE * ROW4; e += QUAD_THREADS) {
            let i = min(i0 + e / ROW4, p.tokens - 1u);
            qtile_a[e] = stage4(operand4(qkv4[qkv_offset(b, i, 0u, h) / 4u + e % ROW4]));
            qtile_b[e] = stage4(operand4(dout[out_offset4(b, i, h) + e % ROW4]));
        }
        if (li < QTILE) {
            let i = min(i0 + li, p.tokens - 1u);
            let oo = out_offset4(b, i, h);
            var di = 0.0;
            for (var c = 0u; c < ROW4; c++) { di += dot(operand4(dout[oo + c]), out[oo + c]); }
            tile_d[li] = di;
            tile_lse[li] = lse[(b * p.heads + h) * p.tokens + i];
        }
        workgroupBarrier();
        let n = min(QTILE, p.tokens - i0);
        for (var t = 0u; t < n; t++) {
            let q = t * ROW4 + c0;
            let s = quad_sum(part_dot_a(k0, k1, k2, k3, q), lane);
            let dp = quad_sum(part_dot_b(v0, v1, v2, v3, q), lane);
            let pij = select(0.0, exp(p.scale * s - tile_lse[t]), attends(i0 + t, j));
            let ds = pij * (dp - tile_d[t]) * p.scale;
            dk0 = fma(vec4<f32>(ds), staged_a(q), dk0);
            dk1 = fma(vec4<f32>(ds), staged_a(q + 1u), dk1);
            dk2 = fma(vec4<f32>(ds), staged_a(q + 2u), dk2);
            dk3 = fma(vec4<f32>(ds), staged_a(q + 3u), dk3);
            dv0 = fma(vec4<f32>(pij), staged_b(q), dv0);
            dv1 = fma(vec4<f32>(pij), staged_b(q + 1u), dv1);
            dv2 = fma(vec4<f32>(pij), staged_b(q + 2u), dv2);
            dv3 = fma(vec4<f32>(pij), staged_b(q + 3u), dv3);
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        dqkv[ko] = dk0;
        dqkv[ko + 1u] = dk1;
        dqkv[ko + 2u] = dk2;
        dqkv[ko + 3u] = dk3;
        dqkv[vo] = dv0;
        dqkv[vo + 1u] = dv1;
        dqkv[vo + 2u] = dv2;
        dqkv[vo + 3u] = dv3;
    }
}
