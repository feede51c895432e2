enable f16;

// As attention_quad_forward.wgsl with q, k and v rounded to f16 (nearest, ties to even:
// lib/f16_round.wgsl) as they are read, keys and values staged in workgroup memory as f16
// (6 KiB instead of 12); scores, softmax, lse and the output accumulated in f32. The
// attention of mixed precision (issue 27) on devices with Features::SHADER_F16: equal to
// attention_forward on the rounded qkv.

// #import attention_common

@group(0) @binding(1) var<storage, read> qkv4: array<vec4<f32>>;      // [batch, tokens, 3, heads, head_dim]
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>; // [batch, tokens, heads, head_dim]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;       // [batch, heads, tokens]

// #import f16_round

alias stage4 = vec4<f16>;
fn operand4(x: vec4<f32>) -> vec4<f32> { return f16_round(x); }

// #import attention_quads
// #import attention_quad_forward_body

@compute @workgroup_size(256)
fn attention_forward_quad_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
                              @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg_size: u32) {
    quad_forward(wg, nwg, li, sid, lane, sg_size);
}
