// Masked multi-head attention for ADCLR, fused: scores, mask, online softmax and the value
// product in one pass per query row, so no T x T score tensor is stored.
//
// Tokens per image: [CLS, RP_1..RP_N, QP_1..QP_Q]; n_base = 1 + N. The mask is index
// ranges, not a tensor: CLS and patches attend among themselves; query i attends to the
// key set of `mode` (0 cls+patches+self, 1 cls+patches, 2 patches, 3 all);
// `bidirectional` lets every token attend to every token.
// One thread per (image, head, query row). Saves lse = logsumexp of the scaled scores.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<f32>;       // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>; // [batch, heads, tokens]

@compute @workgroup_size(64)
fn attention_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let id = (wg.y * nwg.x + wg.x) * 64u + li;
    if (id >= p.batch * p.heads * p.tokens) { return; }
    let i = id % p.tokens;
    let h = (id / p.tokens) % p.heads;
    let b = id / (p.tokens * p.heads);
    let hd = p.head_dim;
    var q: array<f32, MAX_HEAD_DIM>;
    var acc: array<f32, MAX_HEAD_DIM>;
    let qo = qkv_offset(b, i, 0u, h);
    for (var d = 0u; d < hd; d++) { q[d] = qkv[qo + d] * p.scale; acc[d] = 0.0; }
    var m = -1.0e30;
    var l = 0.0;
    for (var j = 0u; j < p.tokens; j++) {
        if (!attends(i, j)) { continue; }
        let ko = qkv_offset(b, j, 1u, h);
        var s = 0.0;
        for (var d = 0u; d < hd; d++) { s = fma(q[d], qkv[ko + d], s); }
        let m_new = max(m, s);
        let correction = exp(m - m_new);
        let w = exp(s - m_new);
        l = l * correction + w;
        let vo = ko + p.heads * hd; // part 2 follows part 1
        for (var d = 0u; d < hd; d++) { acc[d] = acc[d] * correction + w * qkv[vo + d]; }
        m = m_new;
    }
    let oo = ((b * p.tokens + i) * p.heads + h) * hd;
    var inv_l = 0.0;
    if (l > 0.0) { inv_l = 1.0 / l; }
    for (var d = 0u; d < hd; d++) { out[oo + d] = acc[d] * inv_l; }
    var row_lse = 0.0;
    if (l > 0.0) { row_lse = m + log(l); }
    lse[(b * p.heads + h) * p.tokens + i] = row_lse;
}
