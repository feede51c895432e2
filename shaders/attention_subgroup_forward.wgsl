// attention_forward for CPU drivers with 8-lane subgroups (see lib/attention_subgroup.wgsl):
// the same fused scores, mask, softmax and value product (no score tensor), eight query rows
// of one (image, head) per subgroup sharing every key and value load. Masked keys add nothing
// (branch-free, so all lanes keep shuffling together).

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;       // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;       // [batch, heads, tokens]
@group(0) @binding(4) var qkv_tex: texture_2d<f32>;                   // qkv again, as vec4 texels

// #import operand_texture

fn qkv_at(i: u32) -> vec4<f32> {
    return textureLoad(qkv_tex, texel(i), 0);
}

// #import attention_subgroup

@compute @workgroup_size(64)
fn attention_forward_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let rg = row_group(wg, nwg, sid);
    if (rg.x >= p.batch * p.heads) { return; } // the whole subgroup
    let b = rg.x / p.heads;
    let h = rg.x % p.heads;
    let row = rg.y + lane;
    let i = min(row, p.tokens - 1u);
    let hd4 = p.head_dim / 4u;
    var q: array<vec4<f32>, ROW4>;
    var acc: array<vec4<f32>, ROW4>;
    let qo = qkv_offset(b, i, 0u, h) / 4u;
    for (var c = 0u; c < ROW4; c++) {
        if (c < hd4) { q[c] = qkv_at(qo + c) * p.scale; }
        acc[c] = vec4<f32>(0.0);
    }
    // Rows all among CLS + patches see only CLS + patches.
    let base_rows_only = p.bidirectional == 0u && rg.y + LANES <= p.n_base;
    let j_end = select(p.tokens, p.n_base, base_rows_only);
    // Two passes over the keys: the row maximum, then the exponentials against it. (An online
    // softmax rescales the accumulator at every key; on CPU drivers that costs far more than
    // a second pass of dot products.)
    var m = -1.0e30;
    for (var j = 0u; j < j_end; j++) {
        let s = dot_shared(&q, load_share(qkv_offset(b, j, 1u, h) / 4u, lane));
        m = select(m, max(m, s), attends(i, j));
    }
    var l = 0.0;
    for (var j = 0u; j < j_end; j++) {
        let ko = qkv_offset(b, j, 1u, h) / 4u;
        let s = dot_shared(&q, load_share(ko, lane));
        let w = select(0.0, exp(s - m), attends(i, j));
        l += w;
        axpy_shared(&acc, 1.0, w, load_share(ko + p.heads * hd4, lane));
    }
    if (row < p.tokens) {
        let oo = ((b * p.tokens + i) * p.heads + h) * hd4;
        var inv_l = 0.0;
        if (l > 0.0) { inv_l = 1.0 / l; }
        for (var c = 0u; c < ROW4; c++) {
            if (c < hd4) { out[oo + c] = acc[c] * inv_l; }
        }
        var row_lse = 0.0;
        if (l > 0.0) { row_lse = m + log(l); }
        lse[(b * p.heads + h) * p.tokens + i] = row_lse;
    }
}
