enable f16;
enable wgpu_cooperative_matrix;

// The cooperative-matrix matmul with 8x8x8 matrices (lib/matmul_coop_body.wgsl):
// f16 operands, f32 accumulation. Compiled only where the adapter lists f16 x f16 -> f32 at
// this size (`cooperative_matrix_properties()`) and its subgroups hold at least 8
// lanes (at most MAX_SG subgroups in a workgroup of 64).

const S: u32 = 8u;
const MAX_SG: u32 = 8u;
alias mat_a = coop_mat8x8<f16, A>;
alias mat_b = coop_mat8x8<f16, B>;
alias mat_c = coop_mat8x8<f32, C>;

// #import matmul_coop_body

@compute @workgroup_size(64)
fn matmul_coop8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
                 @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
    matmul_coop_body(wg, nwg, sid, nsg, lane, lanes);
}
