// Dynamic loss scaling for f16-mixed training (PyTorch's GradScaler, on the GPU):
// the loss gradient is multiplied by `scale` before the backward pass, so small gradients
// survive f16 operands; the clip pass divides it out again (optim_grad_clip.wgsl). A check
// that finds a non-finite gradient sets health[3] (health.wgsl, a skip-only code): AdamW skips
// that step, `loss_scale_count_skips` holds back the step counts of the tensors it would have
// moved, and `loss_scale_update` halves the scale and clears health[3]. After
// `growth_interval` clean steps in a row the scale doubles (unless that overflows f32).
// Nothing changes once the sticky health flag is off (health[0] != 1).
// state = [scale (f32 bits), clean steps in a row, skipped steps in all, 0].
// The flat parameter/gradient buffers hold many tensors (segments). Segment record (8 words):
// offset, len, first_block, n_blocks, decay (0/1), lr_scale (f32; 0 = frozen), step, 0.

struct Params { n: u32, growth_interval: u32, growth: f32, backoff: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;   // [4]
@group(0) @binding(2) var<storage, read_write> health: array<u32>;  // [4]
@group(0) @binding(3) var<storage, read_write> values: array<f32>;  // [n] the loss gradient
@group(0) @binding(4) var<storage, read> segments: array<u32>;      // [n_segments, 8]
@group(0) @binding(5) var<storage, read_write> skipped: array<u32>; // [n_segments]

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// values *= scale (n values).
@compute @workgroup_size(256)
fn loss_scale_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n) { return; }
    values[i] *= bitcast<f32>(state[0]);
}

// On a skipped step, one more skip for each of the n segments that would have moved.
@compute @workgroup_size(64)
fn loss_scale_count_skips(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) li: u32) {
    let seg = (wg.y * nwg.x + wg.x) * 64u + li;
    if (seg >= p.n || health[0] != 1u || health[3] == 0u) { return; }
    if (bitcast<f32>(segments[seg * 8u + 5u]) != 0.0) { skipped[seg] += 1u; }
}

// The scale for the next step; clears the step's skip flag. One invocation.
@compute @workgroup_size(1)
fn loss_scale_update() {
    if (health[0] != 1u) { return; }
    var scale = bitcast<f32>(state[0]);
    var clean = state[1];
    if (health[3] != 0u) {
        scale *= p.backoff;
        clean = 0u;
        state[2] += 1u;
        health[3] = 0u;
    } else {
        clean += 1u;
        if (clean >= p.growth_interval) {
            let grown = scale * p.growth;
            if (is_finite(grown)) { scale = grown; }
            clean = 0u;
        }
    }
    state[0] = bitcast<u32>(scale);
    state[1] = clean;
}
