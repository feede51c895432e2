// AdamW over the flat parameter buffer (PyTorch's formulation):
//   g = grad * clip / S (optim_grad_clip.wgsl); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   p *= 1 - lr * wd (decayed segments only); p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
// lr is multiplied by the segment's lr_scale; a segment with lr_scale 0 is frozen (untouched).
// bc1, bc2 = 1 - beta^t, t the tensor's steps (optim_grad_clip.wgsl). Nothing moves unless
// health is on and the step is not skipped (health[3], dynamic loss scaling).
// The flat parameter/gradient buffers hold many tensors (segments). Segment record (8 words):
// offset, len, first_block, n_blocks, decay (0/1), lr_scale (f32; 0 = frozen),
// bias_correction1, bias_correction2 (f32: 1 - beta^step, the host's count, skips included).
// Block record (4 words): segment, start, end, 0;
// a block is at most 1024 elements of one segment.

struct Params {
    n_blocks: u32, _p0: u32, _p1: u32, _p2: u32,
    lr: f32, weight_decay: f32, beta1: f32, beta2: f32,
    eps: f32, _p3: u32, _p4: u32, _p5: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> segments: array<u32>;   // [n_segments, 8]
@group(0) @binding(2) var<storage, read> blocks: array<u32>;     // [n_blocks, 4]
@group(0) @binding(3) var<storage, read> clip: array<f32>;       // [n_segments, 4]: clip / S, norm, bc1, bc2
@group(0) @binding(4) var<storage, read> grads: array<f32>;      // flat gradients
@group(0) @binding(5) var<storage, read> health: array<u32>;     // [4]: no update unless health[0] == 1, health[3] == 0
@group(0) @binding(6) var<storage, read_write> params: array<f32>; // flat parameters
@group(0) @binding(7) var<storage, read_write> m: array<f32>;    // first moments
@group(0) @binding(8) var<storage, read_write> v: array<f32>;    // second moments

@compute @workgroup_size(256)
fn adamw_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let blk = wg.y * nwg.x + wg.x;
    if (blk >= p.n_blocks || health[0] != 1u || health[3] != 0u) { return; }
    let seg = blocks[blk * 4u];
    let start = blocks[blk * 4u + 1u];
    let end = blocks[blk * 4u + 2u];
    let decay = segments[seg * 8u + 4u];
    let lr = p.lr * bitcast<f32>(segments[seg * 8u + 5u]);
    if (lr == 0.0) { return; }
    let scale = clip[seg * 4u];
    let bc1 = clip[seg * 4u + 2u];
    let bc2 = clip[seg * 4u + 3u];
    let step = lr / bc1;
    let inv_sqrt_bc2 = 1.0 / sqrt(bc2);
    for (var i = start + li; i < end; i += 256u) {
        let g = grads[i] * scale;
        let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
        let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        var w = params[i];
        if (decay != 0u) { w *= 1.0 - lr * p.weight_decay; }
        params[i] = w - step * mi / (sqrt(vi) * inv_sqrt_bc2 + p.eps);
    }
}
