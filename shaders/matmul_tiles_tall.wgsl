// matmul_tiles.wgsl's kernel (see its header: layouts, tiling, why it is a trusted module) on
// narrow tiles, 128 rows x 64 columns of C per workgroup of 8 x 16 invocations: products with few columns,
// where 128 x 128 tiles would leave a GPU's multiprocessors idle (src/ops/matmul.rs chooses).

// #import matmul_common

// Workgroup tiles in f32, 128 x 64.
alias tile_t = f32;
const TILE_M: u32 = 128u;
const TILE_N: u32 = 64u;

// #import matmul_tiles_body

// The entry points, one per layout: (A along K, B along K), (K, N), (M, N).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_tall_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, true, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_tall_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, false, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_tall_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(false, false, wg, lid.xy);
}
