// attention_forward for GPUs with subgroups, head_dim 64 (lib/attention_quads.wgsl,
// lib/attention_quad_forward_body.wgsl), in f32. Same outputs as attention_forward.wgsl.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;      // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;       // [batch, heads, tokens]

// Keys and values staged in f32, operands as they are.
alias stage4 = vec4<f32>;
fn operand4(x: vec4<f32>) -> vec4<f32> { return x; }

// #import attention_quads
// #import attention_quad_forward_body

@compute @workgroup_size(256)
fn attention_forward_quad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                          @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_forward(wg, nwg, li, sid, lane, sg_size);
}
