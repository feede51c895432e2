// Exact GELU: y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
// WGSL has no erf: Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [n]

// #import erf

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n) { return; }
    y[i] = gelu(x[i]);
}
