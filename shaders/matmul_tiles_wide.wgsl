// matmul_tiles.wgsl's kernel (see its header: layouts, tiling, why it is a trusted module) on
// narrow tiles, 64 rows x 128 columns of C per workgroup of 16 x 8 invocations: products with few rows,
// where 128 x 128 tiles would leave a GPU's multiprocessors idle (src/ops/matmul.rs chooses).

// #import matmul_common

// Workgroup tiles in f32, 64 x 128.
alias tile_t = f32;
const TILE_M: u32 = 64u;
const TILE_N: u32 = 128u;

// #import matmul_tiles_body

// The entry points, one per layout: (A along K, B along K), (K, N), (M, N).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_wide_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, true, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_wide_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, false, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_wide_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(false, false, wg, lid.xy);
}
