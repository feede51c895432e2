// Element-wise kernels: residual add with scaling, scaling (optionally accumulating), fill.

struct Params { n: u32, alpha: f32, beta: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [n] (add_scaled: a; scale: x)
@group(0) @binding(2) var<storage, read> y: array<f32>;       // [n] (add_scaled: b)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // [n]

fn index(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + li;
}

// out = alpha * a + beta * b
@compute @workgroup_size(256)
fn add_scaled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = index(wg, nwg, li);
    if (i >= p.n) { return; }
    out[i] = p.alpha * x[i] + p.beta * y[i];
}

// out = alpha * x (+ out when accumulate): scaling, a residual branch's gradient, axpy.
@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let i = index(wg, nwg, li);
    if (i >= p.n) { return; }
    var v = p.alpha * x[i];
    if (p.accumulate != 0u) { v += out[i]; }
    out[i] = v;
}

// out = alpha (zero-fill with alpha = 0).
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = index(wg, nwg, li);
    if (i >= p.n) { return; }
    out[i] = p.alpha;
}
