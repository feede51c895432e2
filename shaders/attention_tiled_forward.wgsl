// attention_forward for GPUs with head_dim 64 (lib/attention_tiles.wgsl): 64 query rows per
// workgroup, keys and values staged 16 at a time in workgroup memory, one online softmax per
// row in registers. Same outputs as attention_forward.wgsl.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<f32>;       // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>; // [batch, heads, tokens]

// #import attention_tiles

@compute @workgroup_size(64)
fn attention_forward_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) li: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; } // the whole workgroup
    let b = blk.x / p.heads;
    let h = blk.x % p.heads;
    let row = blk.y + li;
    let i = min(row, p.tokens - 1u);
    var q: array<f32, HEAD_DIM>;
    var acc: array<f32, HEAD_DIM>;
    let qo = qkv_offset(b, i, 0u, h);
    for (var d = 0u; d < HEAD_DIM; d++) { q[d] = qkv[qo + d] * p.scale; acc[d] = 0.0; }
    let j_end = key_end(blk.y);
    var m = -1.0e30;
    var l = 0.0;
    for (var j0 = 0u; j0 < j_end; j0 += TILE_ROWS) {
        stage_keys_values(b, h, j0, li);
        workgroupBarrier();
        for (var t = 0u; t < min(TILE_ROWS, j_end - j0); t++) {
            if (!attends(i, j0 + t)) { continue; }
            var s = 0.0;
            for (var d = 0u; d < HEAD_DIM; d++) { s = fma(q[d], tile_a[t * HEAD_DIM + d], s); }
            let m_new = max(m, s);
            let correction = exp(m - m_new);
            let w = exp(s - m_new);
            l = l * correction + w;
            for (var d = 0u; d < HEAD_DIM; d++) { acc[d] = acc[d] * correction + w * tile_b[t * HEAD_DIM + d]; }
            m = m_new;
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        let oo = ((b * p.tokens + i) * p.heads + h) * HEAD_DIM;
        var inv_l = 0.0;
        if (l > 0.0) { inv_l = 1.0 / l; }
        for (var d = 0u; d < HEAD_DIM; d++) { out[oo + d] = acc[d] * inv_l; }
        var row_lse = 0.0;
        if (l > 0.0) { row_lse = m + log(l); }
        lse[(b * p.heads + h) * p.tokens + i] = row_lse;
    }
}
