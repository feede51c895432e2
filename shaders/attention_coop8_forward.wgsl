enable f16;
enable wgpu_cooperative_matrix;

// attention_forward on cooperative matrices of 8x8x8 (lib/attention_coop.wgsl,
// lib/attention_coop_forward_body.wgsl), head_dim 64, f16-mixed: q, k, v and P rounded to
// f16 as operands, scores, softmax, lse and accumulation in f32. Compiled only where the
// adapter lists f16 x f16 -> f32 at this size; run only where subgroups hold at least
// 64 / MAX_SG lanes.

const S: u32 = 8u;
const MAX_SG: u32 = 8u;
alias mat_a = coop_mat8x8<f16, A>;
alias mat_b = coop_mat8x8<f16, B>;
alias mat_c = coop_mat8x8<f32, C>;

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;  // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;   // [batch, heads, tokens]

// #import attention_coop
// #import attention_coop_forward_body

@compute @workgroup_size(64)
fn attention_forward_coop8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                          @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
                          @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
    coop_forward(wg, li, sid, nsg, lane, lanes);
}
