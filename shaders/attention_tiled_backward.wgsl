// attention_backward for GPUs with head_dim 64 (lib/attention_tiles.wgsl), the formulas of
// attention_backward.wgsl:
//   attention_backward_query_tiled: 64 query rows per workgroup; keys and values staged 16 at
//   a time in workgroup memory;
//   attention_backward_key_value_tiled: 64 key rows per workgroup; queries' q and dO rows
//   staged 8 at a time, with their lse and D = dO . O.
// Each invocation owns its outputs: deterministic, no atomics.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv: array<f32>;        // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out: array<f32>;        // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;        // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout: array<f32>;       // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>; // [batch, tokens, 3, heads, head_dim]

// #import attention_tiles

const QUERIES: u32 = 8u; // query rows staged per tile by the key/value kernel
var<workgroup> tile_lse: array<f32, QUERIES>;
var<workgroup> tile_d: array<f32, QUERIES>;

fn out_offset(b: u32, t: u32, h: u32) -> u32 {
    return ((b * p.tokens + t) * p.heads + h) * HEAD_DIM;
}

@compute @workgroup_size(64)
fn attention_backward_query_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                  @builtin(local_invocation_index) li: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; }
    let b = blk.x / p.heads;
    let h = blk.x % p.heads;
    let row = blk.y + li;
    let i = min(row, p.tokens - 1u);
    let qo = qkv_offset(b, i, 0u, h);
    let oo = out_offset(b, i, h);
    var q: array<f32, HEAD_DIM>;
    var dout_i: array<f32, HEAD_DIM>;
    var dq: array<f32, HEAD_DIM>;
    var di = 0.0;
    for (var d = 0u; d < HEAD_DIM; d++) {
        q[d] = qkv[qo + d];
        dout_i[d] = dout[oo + d];
        di = fma(dout_i[d], out[oo + d], di);
        dq[d] = 0.0;
    }
    let row_lse = lse[(b * p.heads + h) * p.tokens + i];
    let j_end = key_end(blk.y);
    for (var j0 = 0u; j0 < j_end; j0 += TILE_ROWS) {
        stage_keys_values(b, h, j0, li);
        workgroupBarrier();
        for (var t = 0u; t < min(TILE_ROWS, j_end - j0); t++) {
            if (!attends(i, j0 + t)) { continue; }
            var s = 0.0;
            var dp = 0.0;
            for (var d = 0u; d < HEAD_DIM; d++) {
                s = fma(q[d], tile_a[t * HEAD_DIM + d], s);
                dp = fma(dout_i[d], tile_b[t * HEAD_DIM + d], dp);
            }
            let ds = exp(p.scale * s - row_lse) * (dp - di) * p.scale;
            for (var d = 0u; d < HEAD_DIM; d++) { dq[d] = fma(ds, tile_a[t * HEAD_DIM + d], dq[d]); }
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        for (var d = 0u; d < HEAD_DIM; d++) { dqkv[qo + d] = dq[d]; }
    }
}

@compute @workgroup_size(64)
fn attention_backward_key_value_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                      @builtin(local_invocation_index) li: u32) {
    let blk = row_block(wg, nwg);
    if (blk.x >= p.batch * p.heads) { return; }
    let b = blk.x / p.heads;
    let h = blk.x % p.heads;
    let row = blk.y + li;
    let j = min(row, p.tokens - 1u);
    let ko = qkv_offset(b, j, 1u, h);
    let vo = ko + p.heads * HEAD_DIM;
    var k: array<f32, HEAD_DIM>;
    var v: array<f32, HEAD_DIM>;
    var dk: array<f32, HEAD_DIM>;
    var dv: array<f32, HEAD_DIM>;
    for (var d = 0u; d < HEAD_DIM; d++) { k[d] = qkv[ko + d]; v[d] = qkv[vo + d]; dk[d] = 0.0; dv[d] = 0.0; }
    for (var i0 = 0u; i0 < p.tokens; i0 += QUERIES) {
        for (var e = li; e < QUERIES * HEAD_DIM; e += ROWS) {
            let i = min(i0 + e / HEAD_DIM, p.tokens - 1u);
            tile_a[e] = qkv[qkv_offset(b, i, 0u, h) + e % HEAD_DIM];
            tile_b[e] = dout[out_offset(b, i, h) + e % HEAD_DIM];
        }
        if (li < QUERIES) {
            let i = min(i0 + li, p.tokens - 1u);
            let oo = out_offset(b, i, h);
            var di = 0.0;
            for (var d = 0u; d < HEAD_DIM; d++) { di = fma(dout[oo + d], out[oo + d], di); }
            tile_d[li] = di;
            tile_lse[li] = lse[(b * p.heads + h) * p.tokens + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < min(QUERIES, p.tokens - i0); t++) {
            if (!attends(i0 + t, j)) { continue; }
            var s = 0.0;
            var dp = 0.0;
            for (var d = 0u; d < HEAD_DIM; d++) {
                s = fma(tile_a[t * HEAD_DIM + d], k[d], s);
                dp = fma(tile_b[t * HEAD_DIM + d], v[d], dp);
            }
            let pij = exp(p.scale * s - tile_lse[t]);
            let ds = pij * (dp - tile_d[t]) * p.scale;
            for (var d = 0u; d < HEAD_DIM; d++) {
                dk[d] = fma(ds, tile_a[t * HEAD_DIM + d], dk[d]);
                dv[d] = fma(pij, tile_b[t * HEAD_DIM + d], dv[d]);
            }
        }
        workgroupBarrier();
    }
    if (row < p.tokens) {
        for (var d = 0u; d < HEAD_DIM; d++) { dqkv[ko + d] = dk[d]; dqkv[vo + d] = dv[d]; }
    }
}
