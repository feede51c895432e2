// Exact GELU backward: dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density.

struct Params { n: u32, accumulate: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [n]
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // [n]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>; // [n]

// #import erf

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n) { return; }
    var g = dy[i] * gelu_grad(x[i]);
    if (p.accumulate != 0u) { g += dx[i]; }
    dx[i] = g;
}
