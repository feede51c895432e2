// Shared by the quad attention kernels (GPUs with subgroups of 4 lanes or more, head_dim 64):
// four consecutive lanes of a subgroup own one row (a query, or a key in the key/value
// backward), each lane 16 of its 64 values as four vec4 held in registers (no per-row arrays,
// which GPU compilers spill to memory when indexed in loops). A dot product over a row is the
// four lanes' partial sums added with two subgroup shuffles. ROWS rows per workgroup of 256;
// the other side is staged in workgroup memory, QTILE rows at a time (12 KiB in f32).
//
// The including file chooses the operands' precision: `alias stage4` (vec4<f32>, or
// vec4<f16> under `enable f16;`), the type rows are staged in, and `fn operand4(x:
// vec4<f32>) -> vec4<f32>`, applied to every q, k, v and dO value as it is read from
// global memory (the identity, or f16_round), so that staging as stage4 is exact.

// #import attention_blocks

const QUAD_THREADS: u32 = 256u;           // 4 lanes x ROWS rows
const QTILE: u32 = 24u;                   // rows of the other side staged per tile
const ROW4: u32 = HEAD_DIM / 4u;          // vec4 per head row (16)
var<workgroup> qtile_a: array<stage4, QTILE * ROW4>; // [QTILE][ROW4] keys / q rows
var<workgroup> qtile_b: array<stage4, QTILE * ROW4>; // values / dO rows

// The row a lane's quad owns in this workgroup's block: image b, head h, row (maybe past the
// end) and i (clamped to the last token), and c0, the first of the lane's four vec4 of a row.
struct QuadRow { b: u32, h: u32, row: u32, i: u32, c0: u32 }

fn quad_row(blk: vec2<u32>, sid: u32, lane: u32, sg_size: u32) -> QuadRow {
    let row = blk.y + sid * (sg_size / 4u) + lane / 4u;
    return QuadRow(blk.x / p.heads, blk.x % p.heads, row, min(row, p.tokens - 1u), (lane % 4u) * 4u);
}

// The staged vec4 k of qtile_a / qtile_b, in f32.
fn staged_a(k: u32) -> vec4<f32> {
    return vec4<f32>(qtile_a[k]);
}
fn staged_b(k: u32) -> vec4<f32> {
    return vec4<f32>(qtile_b[k]);
}

// This lane's part of the dot product of (x0, x1, x2, x3) with the staged row whose part
// starts at vec4 k of qtile_a / qtile_b (quad_sum completes it).
fn part_dot_a(x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, k: u32) -> f32 {
    return dot(x0, staged_a(k)) + dot(x1, staged_a(k + 1u)) + dot(x2, staged_a(k + 2u)) + dot(x3, staged_a(k + 3u));
}
fn part_dot_b(x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, k: u32) -> f32 {
    return dot(x0, staged_b(k)) + dot(x1, staged_b(k + 1u)) + dot(x2, staged_b(k + 2u)) + dot(x3, staged_b(k + 3u));
}

// The sum of x over the four lanes of this lane's quad (every lane of the subgroup calls it).
fn quad_sum(x: f32, lane: u32) -> f32 {
    let a = x + subgroupShuffle(x, lane ^ 1u);
    return a + subgroupShuffle(a, lane ^ 2u);
}

// Stages the keys (qtile_a) and values (qtile_b) of rows j0 .. j0 + QTILE of head h of image
// b (rows past the end repeat the last; callers stop before them). Every invocation calls it.
fn stage_keys_values4(b: u32, h: u32, j0: u32, li: u32) {
    for (var e = li; e < QTILE * ROW4; e += QUAD_THREADS) {
        let j = min(j0 + e / ROW4, p.tokens - 1u);
        let ko = qkv_offset(b, j, 1u, h) / 4u + e % ROW4;
        qtile_a[e] = stage4(operand4(qkv4[ko]));
        qtile_b[e] = stage4(operand4(qkv4[ko + p.heads * ROW4]));
    }
}
