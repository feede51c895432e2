enable f16;

// As matmul_tiles.wgsl (see its header: layouts, tiling, why it is a trusted module), with the
// operands rounded to f16 as they are staged in workgroup memory (8 KiB instead of 16) and
// the products accumulated in f32: the SIMT matmul of mixed precision (issue 27) for devices
// with Features::SHADER_F16 and no cooperative matrices, rounding as theirs will. Operands
// and C stay f32 in global memory. The conversion rounds to nearest even; a value beyond
// f16's range becomes infinite, so an overflow shows as a non-finite product.

// #import matmul_common

// Workgroup tiles in f16.
alias tile_t = f16;
const TILE_M: u32 = 128u;
const TILE_N: u32 = 128u;

// #import matmul_tiles_body

// The entry points, one per layout: (A along K, B along K), (K, N), (M, N).
@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_f16_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, true, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_f16_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(true, false, wg, lid.xy);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul_tiles_f16_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    tile_product(false, false, wg, lid.xy);
}
