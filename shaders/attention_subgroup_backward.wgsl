// attention_backward for CPU drivers with 8-lane subgroups (see lib/attention_subgroup.wgsl),
// the same formulas as attention_backward.wgsl:
//   attention_backward_query_sg: eight query rows per subgroup share each key and value row;
//   attention_backward_key_value_sg: eight key rows per subgroup share each query's q, dO and
//   O rows; D_i = dO_i . O_i is summed from the lanes' shares with subgroupAdd.
// Masked pairs contribute zero (branch-free). Each lane owns its outputs. The query kernel reads
// qkv, out and dout from textures (lib/operand_texture.wgsl); the key/value kernel, bound to
// the same textures, reads the storage buffers, which measured faster for it.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;        // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out: array<vec4<f32>>;        // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;              // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;       // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<vec4<f32>>; // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(6) var qkv_tex: texture_2d<f32>;                    // qkv, out and dout again,
@group(0) @binding(7) var out_tex: texture_2d<f32>;                    // as vec4 texels
@group(0) @binding(8) var dout_tex: texture_2d<f32>;

// #import operand_texture

fn qkv_at(i: u32) -> vec4<f32> {
    return textureLoad(qkv_tex, texel(i), 0);
}

// #import attention_subgroup

// The key/value kernel reads its shares from the storage buffers: measured faster there than
// through the textures (which help the query kernel). This lane's share of the row at vec4
// offset `base` of qkv; of out (src 0) or dout (src 1).
fn load_share_buffer(base: u32, lane: u32) -> array<vec4<f32>, SLOTS> {
    var r: array<vec4<f32>, SLOTS>;
    let hd4 = p.head_dim / 4u;
    for (var t = 0u; t < SLOTS; t++) {
        let c = t * LANES + lane;
        if (c < hd4) { r[t] = qkv[base + c]; }
    }
    return r;
}

fn load_share_of(src: u32, base: u32, lane: u32) -> array<vec4<f32>, SLOTS> {
    var r: array<vec4<f32>, SLOTS>;
    let hd4 = p.head_dim / 4u;
    for (var t = 0u; t < SLOTS; t++) {
        let c = t * LANES + lane;
        if (c < hd4) {
            if (src == 0u) { r[t] = out[base + c]; } else { r[t] = dout[base + c]; }
        }
    }
    return r;
}

@compute @workgroup_size(64)
fn attention_backward_query_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let rg = row_group(wg, nwg, sid);
    if (rg.x >= p.batch * p.heads) { return; }
    let b = rg.x / p.heads;
    let h = rg.x % p.heads;
    let row = rg.y + lane;
    let i = min(row, p.tokens - 1u);
    let hd4 = p.head_dim / 4u;
    let qo = qkv_offset(b, i, 0u, h) / 4u;
    let oo = ((b * p.tokens + i) * p.heads + h) * hd4;
    var q: array<vec4<f32>, ROW4>;
    var dout_i: array<vec4<f32>, ROW4>;
    var dq: array<vec4<f32>, ROW4>;
    var di = 0.0;
    for (var c = 0u; c < ROW4; c++) {
        if (c < hd4) {
            q[c] = qkv_at(qo + c);
            dout_i[c] = textureLoad(dout_tex, texel(oo + c), 0);
            di += dot(dout_i[c], textureLoad(out_tex, texel(oo + c), 0));
        }
        dq[c] = vec4<f32>(0.0);
    }
    let row_lse = lse[(b * p.heads + h) * p.tokens + i];
    let base_rows_only = p.bidirectional == 0u && rg.y + LANES <= p.n_base;
    let j_end = select(p.tokens, p.n_base, base_rows_only);
    for (var j = 0u; j < j_end; j++) {
        let ko = qkv_offset(b, j, 1u, h) / 4u;
        let k_share = load_share(ko, lane);
        let v_share = load_share(ko + p.heads * hd4, lane);
        let pij = exp(p.scale * dot_shared(&q, k_share) - row_lse);
        let dpij = dot_shared(&dout_i, v_share);
        let ds = select(0.0, pij * (dpij - di) * p.scale, attends(i, j));
        axpy_shared(&dq, 1.0, ds, k_share);
    }
    if (row < p.tokens) {
        for (var c = 0u; c < ROW4; c++) {
            if (c < hd4) { dqkv[qo + c] = dq[c]; }
        }
    }
}

@compute @workgroup_size(64)
fn attention_backward_key_value_sg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                   @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) lane: u32) {
    let rg = row_group(wg, nwg, sid);
    if (rg.x >= p.batch * p.heads) { return; }
    let b = rg.x / p.heads;
    let h = rg.x % p.heads;
    let row = rg.y + lane;
    let j = min(row, p.tokens - 1u);
    let hd4 = p.head_dim / 4u;
    let ko = qkv_offset(b, j, 1u, h) / 4u;
    let vo = ko + p.heads * hd4;
    var k: array<vec4<f32>, ROW4>;
    var v: array<vec4<f32>, ROW4>;
    var dk: array<vec4<f32>, ROW4>;
    var dv: array<vec4<f32>, ROW4>;
    for (var c = 0u; c < ROW4; c++) {
        if (c < hd4) {
            k[c] = qkv[ko + c];
            v[c] = qkv[vo + c];
        }
        dk[c] = vec4<f32>(0.0);
        dv[c] = vec4<f32>(0.0);
    }
    for (var i = 0u; i < p.tokens; i++) {
        let q_share = load_share_buffer(qkv_offset(b, i, 0u, h) / 4u, lane);
        let oo = ((b * p.tokens + i) * p.heads + h) * hd4;
        let o_share = load_share_of(0u, oo, lane);
        let do_share = load_share_of(1u, oo, lane);
        var di_part = 0.0;
        for (var t = 0u; t < SLOTS; t++) { di_part += dot(o_share[t], do_share[t]); }
        let di = subgroupAdd(di_part);
        let pij = select(0.0, exp(p.scale * dot_shared(&k, q_share) - lse[(b * p.heads + h) * p.tokens + i]), attends(i, j));
        let dpij = dot_shared(&v, do_share);
        let ds = pij * (dpij - di) * p.scale;
        axpy_shared(&dk, 1.0, ds, q_share);
        axpy_shared(&dv, 1.0, pij, do_share);
    }
    if (row < p.tokens) {
        for (var c = 0u; c < ROW4; c++) {
            if (c < hd4) {
                dqkv[ko + c] = dk[c];
                dqkv[vo + c] = dv[c];
            }
        }
    }
}
