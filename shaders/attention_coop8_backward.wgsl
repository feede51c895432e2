enable f16;
enable wgpu_cooperative_matrix;

// attention_backward on cooperative matrices of 8x8x8 (lib/attention_coop.wgsl,
// lib/attention_coop_backward_body.wgsl), head_dim 64, f16-mixed: the query gradient, then
// the key and value gradients. As attention_coop8_forward.wgsl for where it runs.

const S: u32 = 8u;
const MAX_SG: u32 = 8u;
alias mat_a = coop_mat8x8<f16, A>;
alias mat_b = coop_mat8x8<f16, B>;
alias mat_c = coop_mat8x8<f32, C>;

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;    // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out4: array<vec4<f32>>;    // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;           // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout4: array<vec4<f32>>;   // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;    // [batch, tokens, 3, heads, head_dim]

// #import attention_coop
// #import attention_coop_backward_body

@compute @workgroup_size(64)
fn attention_backward_query_coop8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                                 @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
                                 @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
    coop_backward_query(wg, li, sid, nsg, lane, lanes);
}

@compute @workgroup_size(64)
fn attention_backward_key_value_coop8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
                                     @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
                                     @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
    coop_backward_key_value(wg, li, sid, nsg, lane, lanes);
}
