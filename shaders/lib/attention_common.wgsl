// Shared by the attention kernels: the parameter block, the qkv layout and the ADCLR mask
// as index ranges (tokens [CLS, RP_1..RP_N, QP_1..QP_Q], n_base = 1 + N; `mode` one of the
// MODE_* below, what a query token attends to; `bidirectional` lifts the mask).

struct Params {
    batch: u32, tokens: u32, heads: u32, head_dim: u32,
    n_base: u32, mode: u32, bidirectional: u32, _pad: u32,
    scale: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const MAX_HEAD_DIM: u32 = 128u;

// `mode`: src/spec/config.rs's QueryAttends (tests/shaders_validate.rs checks the values).
const MODE_CLS_PATCHES_SELF: u32 = 0u;  // CLS, raw patches and itself
const MODE_CLS_PATCHES: u32 = 1u;       // CLS and raw patches
const MODE_PATCHES: u32 = 2u;           // raw patches only
const MODE_ALL: u32 = 3u;               // every token

fn attends(i: u32, j: u32) -> bool {
    if (p.bidirectional != 0u) { return true; }
    if (i < p.n_base) { return j < p.n_base; }
    switch p.mode {
        case MODE_CLS_PATCHES_SELF: { return j < p.n_base || j == i; }
        case MODE_CLS_PATCHES: { return j < p.n_base; }
        case MODE_PATCHES: { return j >= 1u && j < p.n_base; }
        default: { return true; }
    }
}

// Offset of head h's slice of part (0 q, 1 k, 2 v) of token t in image b, in
// qkv [batch, tokens, 3, heads, head_dim].
fn qkv_offset(b: u32, t: u32, part: u32, h: u32) -> u32 {
    return (((b * p.tokens + t) * 3u + part) * p.heads + h) * p.head_dim;
}
