// Batched matmul for GPUs, one entry point per operand layout. A 16 x 16 workgroup computes a
// 128 x 128 tile of C, each invocation 8 x 8 of it: rows ty*4 .. +4 and 64 + ty*4 .. +4,
// columns tx*4 .. +4 and 64 + tx*4 .. +4, so each k of a step reads four vec4 from workgroup
// memory for 64 FMAs. K advances TILE_K = 8 at a time through two workgroup buffers: while one
// step's slabs are multiplied, the next step's global loads (one vec4 of A and one of B per
// invocation) are in flight in registers, and go into the other buffer afterwards, so each
// step needs one barrier. Both operands are staged k-major, [TILE_K][128] floats each.
// matmul_tiles_wide.wgsl (64 x 128, 16 x 8 invocations) and matmul_tiles_tall.wgsl (128 x 64,
// 8 x 16) are the same code (lib/matmul_tiles_body.wgsl) for products with few rows or
// columns, where 128 x 128 tiles leave a GPU's multiprocessors idle: each invocation still
// computes 8 x 8, and loads two vec4 of the operand along the tile's long side.
// Layouts (the launcher, src/ops/matmul.rs, checks them: the vec4 loads need the contiguous
// dimension and every row and batch stride to be multiples of 4):
//   matmul_tiles_nt: A along K, B along K   C = A B^T  (a linear layer's forward, x W^T)
//   matmul_tiles_nn: A along K, B along N   C = A B    (its input gradient, dY W)
//   matmul_tiles_tn: A along M, B along N   C = A^T B  (its weight gradient, dY^T X)
// Loads past M, N or K read a clamped in-range address and are zeroed (both operands, so that
// no Inf read at a clamped address reaches C), stores past M or N are skipped: a full tile
// runs no branch per element. Operands, strides and flags as matmul.wgsl. Workgroup memory:
// 2 x 2 x 8 KiB = 16 KiB (12 KiB for the narrow tiles), within WebGPU's default limit.
//
// Built as a trusted module (src/gpu/kernels.rs: no naga bounds checks, workgroup memory not
// zeroed), which rests on: every global index is clamped to the operand's last row and column
// (A's element (M-1, K-1) of the last batch at most, what the launcher's length checks cover);
// stores and bias reads happen only for m < M and n < N; workgroup indices are below
// 2 * SLAB of their operand by construction (buffer * SLAB + k * ROW4 + vec4, buffer < 2,
// k < TILE_K, vec4 < ROW4, the loaded vec4 numbers below SLAB); buffer 0 of each operand is
// written whole before the first barrier and buffer 1 before any step reads it; the loop runs
// `steps` times, a parameter. tests/gpu/matmul.rs runs each entry point on operands followed
// by NaN and outputs followed by sentinels.

// #import matmul_common

// Workgroup tiles in f32.
alias tile_t = f32;
const TILE_M: u32 = 128u;
const TILE_N: u32 = 128u;

// #import matmul_tiles_body

// The entry points, one per layout: (A along K, B along K), (K, N), (M, N).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, true, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, false, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(false, false, wg, lid.xy);
}
