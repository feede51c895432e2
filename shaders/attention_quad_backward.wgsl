// attention_backward for GPUs with subgroups, head_dim 64 (lib/attention_quads.wgsl,
// lib/attention_quad_backward_body.wgsl), in f32: the query gradient, then the key and
// value gradients. Same outputs as attention_backward.wgsl.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;        // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out: array<vec4<f32>>;         // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;               // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;        // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<vec4<f32>>;  // [batch, tokens, 3, heads, head_dim]

// Rows staged in f32, operands as they are.
alias stage4 = vec4<f32>;
fn operand4(x: vec4<f32>) -> vec4<f32> { return x; }

// #import attention_quads
// #import attention_quad_backward_body

@compute @workgroup_size(256)
fn attention_backward_query_quad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                                 @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_backward_query(wg, nwg, li, sid, lane, sg_size);
}

@compute @workgroup_size(256)
fn attention_backward_key_value_quad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                     @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                                     @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_backward_key_value(wg, nwg, li, sid, lane, sg_size);
}
