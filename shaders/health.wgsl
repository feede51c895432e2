// Training health: a sticky flag that turns off every state update once a loss term or a
// gradient norm is NaN or infinite, so the last good state stays intact until the host
// reads the flag (every N steps) and stops with the step and the term.
// health = [ok (1/0), failing term code, failing step, skip this step (1/0)].
// A code with SKIP_ONLY set (gradients under dynamic loss scaling, loss_scale.wgsl) sets the
// skip word instead: that step's update is skipped and the scale halved, nothing stops.

struct Params { n: u32, code: u32, step: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;       // [n] (a strided view is fine)
@group(0) @binding(2) var<storage, read_write> health: array<u32>; // [4]

const SKIP_ONLY: u32 = 0x80000000u;

var<workgroup> bad: array<u32, 256>;

fn is_finite(v: f32) -> bool {
    // NaN and +-inf are exactly the values whose exponent bits are all ones.
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn health_check(@builtin(local_invocation_index) li: u32) {
    var found = 0u;
    for (var i = li; i < p.n; i += 256u) {
        if (!is_finite(values[i])) { found = 1u; }
    }
    bad[li] = found;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (li < s) { bad[li] = max(bad[li], bad[li + s]); }
        workgroupBarrier();
    }
    if (li == 0u && bad[0] != 0u && health[0] == 1u) {
        if ((p.code & SKIP_ONLY) != 0u) {
            health[3] = 1u;
            return;
        }
        health[0] = 0u;
        health[1] = p.code;
        health[2] = p.step;
    }
}
