// Backward of the fused masked attention, recomputing the probabilities from the saved
// lse: P_ij = exp(scale q_i.k_j - lse_i) on the masked set, D_i = dO_i . O_i,
//   dq_i = scale * sum_j P_ij (dO_i.v_j - D_i) k_j        (one thread per query row)
//   dk_j = scale * sum_i P_ij (dO_i.v_j - D_i) q_i,  dv_j = sum_i P_ij dO_i
//                                                        (one thread per key row)
// Each thread owns its outputs: deterministic, no atomics. Mask as in attention_forward.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<f32>;        // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out: array<f32>;        // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;        // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout: array<f32>;       // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>; // [batch, tokens, 3, heads, head_dim]

fn out_offset(b: u32, t: u32, h: u32) -> u32 {
    return ((b * p.tokens + t) * p.heads + h) * p.head_dim;
}

fn dot_qk(qo: u32, ko: u32) -> f32 {
    var s = 0.0;
    for (var d = 0u; d < p.head_dim; d++) { s = fma(qkv[qo + d], qkv[ko + d], s); }
    return s;
}

@compute @workgroup_size(64)
fn attention_backward_query(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) li: u32) {
    let id = (wg.y * nwg.x + wg.x) * 64u + li;
    if (id >= p.batch * p.heads * p.tokens) { return; }
    let i = id % p.tokens;
    let h = (id / p.tokens) % p.heads;
    let b = id / (p.tokens * p.heads);
    let hd = p.head_dim;
    let qo = qkv_offset(b, i, 0u, h);
    let oo = out_offset(b, i, h);
    var dqv: array<f32, MAX_HEAD_DIM>;
    var di = 0.0;
    for (var d = 0u; d < hd; d++) { di = fma(dout[oo + d], out[oo + d], di); dqv[d] = 0.0; }
    let row_lse = lse[(b * p.heads + h) * p.tokens + i];
    for (var j = 0u; j < p.tokens; j++) {
        if (!attends(i, j)) { continue; }
        let ko = qkv_offset(b, j, 1u, h);
        let vo = ko + p.heads * hd;
        let pij = exp(p.scale * dot_qk(qo, ko) - row_lse);
        var dpij = 0.0;
        for (var d = 0u; d < hd; d++) { dpij = fma(dout[oo + d], qkv[vo + d], dpij); }
        let ds = pij * (dpij - di) * p.scale;
        for (var d = 0u; d < hd; d++) { dqv[d] = fma(ds, qkv[ko + d], dqv[d]); }
    }
    for (var d = 0u; d < hd; d++) { dqkv[qo + d] = dqv[d]; }
}

@compute @workgroup_size(64)
fn attention_backward_key_value(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) li: u32) {
    let id = (wg.y * nwg.x + wg.x) * 64u + li;
    if (id >= p.batch * p.heads * p.tokens) { return; }
    let j = id % p.tokens;
    let h = (id / p.tokens) % p.heads;
    let b = id / (p.tokens * p.heads);
    let hd = p.head_dim;
    let ko = qkv_offset(b, j, 1u, h);
    let vo = ko + p.heads * hd;
    var dk: array<f32, MAX_HEAD_DIM>;
    var dv: array<f32, MAX_HEAD_DIM>;
    for (var d = 0u; d < hd; d++) { dk[d] = 0.0; dv[d] = 0.0; }
    for (var i = 0u; i < p.tokens; i++) {
        if (!attends(i, j)) { continue; }
        let qo = qkv_offset(b, i, 0u, h);
        let oo = out_offset(b, i, h);
        let pij = exp(p.scale * dot_qk(qo, ko) - lse[(b * p.heads + h) * p.tokens + i]);
        var di = 0.0;
        var dpij = 0.0;
        for (var d = 0u; d < hd; d++) {
            di = fma(dout[oo + d], out[oo + d], di);
            dpij = fma(dout[oo + d], qkv[vo + d], dpij);
        }
        let ds = pij * (dpij - di) * p.scale;
        for (var d = 0u; d < hd; d++) {
            dk[d] = fma(ds, qkv[qo + d], dk[d]);
            dv[d] = fma(pij, dout[oo + d], dv[d]);
        }
    }
    for (var d = 0u; d < hd; d++) { dqkv[ko + d] = dk[d]; dqkv[vo + d] = dv[d]; }
}
