// Per-tensor gradient-norm clipping (DINO clips each parameter on its own), of gradients
// that carry the loss scale S (loss_scale.wgsl; 1 in f32 training): ||g|| = ||grads|| / S,
// clip = min(1, max_norm / (||g|| + 1e-6)), or 1 when max_norm <= 0; AdamW multiplies the
// gradients by clip / S. The same pass puts each tensor's Adam bias corrections beside: the
// host's 1 - beta^t, or, for a tensor that skipped s of its t steps, 1 - beta^t beta^-s.
// Two deterministic passes: per-block sums of squares, then one thread per segment.
// The flat parameter/gradient buffers hold many tensors (segments). Segment record (8 words):
// offset, len, first_block, n_blocks, decay (0/1), lr_scale (f32; 0 = frozen),
// bias_correction1, bias_correction2 (f32: 1 - beta^step, the host's count, skips included).
// Block record (4 words): segment, start, end, 0;
// a block is at most 1024 elements of one segment.

struct Params { n_blocks: u32, n_segments: u32, max_norm: f32, beta1: f32, beta2: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> segments: array<u32>;          // [n_segments, 8]
@group(0) @binding(2) var<storage, read> blocks: array<u32>;            // [n_blocks, 4]
@group(0) @binding(3) var<storage, read> grads: array<f32>;             // flat gradients
@group(0) @binding(4) var<storage, read_write> block_sumsq: array<f32>; // [n_blocks]
@group(0) @binding(5) var<storage, read_write> clip: array<f32>;        // [n_segments, 4]: clip / S, norm, bc1, bc2
@group(0) @binding(6) var<storage, read> scaler: array<u32>;            // [4]: S (f32 bits), ...
@group(0) @binding(7) var<storage, read> skipped: array<u32>;           // [n_segments] steps skipped

// #import workgroup_reduce

@compute @workgroup_size(256)
fn grad_block_sumsq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let blk = wg.y * nwg.x + wg.x;
    if (blk >= p.n_blocks) { return; }
    let start = blocks[blk * 4u + 1u];
    let end = blocks[blk * 4u + 2u];
    var s = 0.0;
    for (var i = start + li; i < end; i += 256u) { s += grads[i] * grads[i]; }
    let total = workgroup_sum(li, s);
    if (li == 0u) { block_sumsq[blk] = total; }
}

// The same with one invocation per block and no barriers (CPU drivers).
@compute @workgroup_size(64)
fn grad_block_sumsq_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) li: u32) {
    let blk = (wg.y * nwg.x + wg.x) * 64u + li;
    if (blk >= p.n_blocks) { return; }
    var s = 0.0;
    for (var i = blocks[blk * 4u + 1u]; i < blocks[blk * 4u + 2u]; i++) { s += grads[i] * grads[i]; }
    block_sumsq[blk] = s;
}

@compute @workgroup_size(64)
fn grad_clip_scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let seg = (wg.y * nwg.x + wg.x) * 64u + li;
    if (seg >= p.n_segments) { return; }
    let first = segments[seg * 8u + 2u];
    let count = segments[seg * 8u + 3u];
    var s = 0.0;
    for (var b = first; b < first + count; b++) { s += block_sumsq[b]; }
    let loss_scale = bitcast<f32>(scaler[0]);
    let norm = sqrt(s) / loss_scale;
    var scale = 1.0;
    if (p.max_norm > 0.0) { scale = min(1.0, p.max_norm / (norm + 1e-6)); }
    var bc1 = bitcast<f32>(segments[seg * 8u + 6u]);
    var bc2 = bitcast<f32>(segments[seg * 8u + 7u]);
    let s_skipped = f32(skipped[seg]);
    if (s_skipped > 0.0) {
        bc1 = 1.0 - (1.0 - bc1) * pow(p.beta1, -s_skipped);
        bc2 = 1.0 - (1.0 - bc2) * pow(p.beta2, -s_skipped);
    }
    clip[seg * 4u] = scale / loss_scale;
    clip[seg * 4u + 1u] = norm;
    clip[seg * 4u + 2u] = bc1;
    clip[seg * 4u + 3u] = bc2;
}
