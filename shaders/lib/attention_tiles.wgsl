// Shared by the shared-memory attention kernels (GPUs, head_dim == HEAD_DIM): a workgroup of
// 64 invocations owns 64 rows (queries, or keys in the key/value backward) of one (image,
// head) and walks the other side in tiles staged in workgroup memory, so every key / value /
// query row is read from global memory once per workgroup instead of once per row.

// #import attention_blocks

// Rows staged per tile: keys and values (forward, query backward), or q and dO rows
// (key/value backward, which stages QUERIES <= TILE_ROWS of them).
const TILE_ROWS: u32 = 16u;
var<workgroup> tile_a: array<f32, TILE_ROWS * HEAD_DIM>; // [TILE_ROWS][HEAD_DIM] keys / q rows
var<workgroup> tile_b: array<f32, TILE_ROWS * HEAD_DIM>; // values / dO rows

// Stages the keys and values of rows j0 .. j0 + TILE_ROWS of head h of image b (rows past the
// end repeat the last; callers stop before them). Every invocation of the workgroup calls it.
fn stage_keys_values(b: u32, h: u32, j0: u32, li: u32) {
    for (var e = li; e < TILE_ROWS * HEAD_DIM; e += ROWS) {
        let j = min(j0 + e / HEAD_DIM, p.tokens - 1u);
        let ko = qkv_offset(b, j, 1u, h) + e % HEAD_DIM;
        tile_a[e] = qkv[ko];
        tile_b[e] = qkv[ko + p.heads * HEAD_DIM];
    }
}
