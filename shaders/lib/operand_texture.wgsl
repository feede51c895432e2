// Reading a tensor that the host copied into an rgba32float texture (src/gpu/texture.rs):
// vec4 number i of the tensor is texel (i % TEXTURE_WIDTH, i / TEXTURE_WIDTH). CPU drivers
// load a texel for eight lanes with vector loads, a storage buffer lane by lane.

const TEXTURE_WIDTH: u32 = 4096u; // texels per texture row (src/gpu/texture.rs)

fn texel(i: u32) -> vec2<u32> {
    return vec2<u32>(i % TEXTURE_WIDTH, i / TEXTURE_WIDTH);
}
