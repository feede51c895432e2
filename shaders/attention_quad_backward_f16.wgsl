enable f16;

// As attention_quad_backward.wgsl with q, k, v and dO rounded to f16 (nearest, ties to even:
// lib/f16_round.wgsl) as they are read, the staged rows kept in workgroup memory as f16; O,
// lse, the probabilities, D = dO . O and every gradient in f32. The attention backward of
// mixed precision (issue 27) on devices with Features::SHADER_F16: equal to
// attention_backward on the rounded qkv and dO.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;        // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read> out: array<vec4<f32>>;         // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read> lse: array<f32>;               // [batch, heads, tokens]
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;        // [batch, tokens, heads, head_dim]
@group(0) @binding(5) var<storage, read_write> dqkv: array<vec4<f32>>;  // [batch, tokens, 3, heads, head_dim]

// #import f16_round

alias stage4 = vec4<f16>;
fn operand4(x: vec4<f32>) -> vec4<f32> { return f16_round(x); }

// #import attention_quads
// #import attention_quad_backward_body

@compute @workgroup_size(256)
fn attention_backward_query_quad_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                                 @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_backward_query(wg, nwg, li, sid, lane, sg_size);
}

@compute @workgroup_size(256)
fn attention_backward_key_value_quad_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                     @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                                     @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_backward_key_value(wg, nwg, li, sid, lane, sg_size);
}
