// L2 normalisation backward: dx = (dy - y (dy . y)) / ||x|| where ||x|| > eps, else dy / eps.

struct Params { rows: u32, d: u32, eps: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;        // [rows, d]
@group(0) @binding(2) var<storage, read> norm: array<f32>;     // [rows]
@group(0) @binding(3) var<storage, read> dy: array<f32>;       // [rows, d]
@group(0) @binding(4) var<storage, read_write> dx: array<f32>; // [rows, d]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn l2norm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let n = norm[row];
    var s = 0.0;
    for (var j = li; j < p.d; j += 256u) { s += dy[base + j] * y[base + j]; }
    let dot = workgroup_sum(li, s);
    for (var j = li; j < p.d; j += 256u) {
        var g: f32;
        if (n > p.eps) { g = (dy[base + j] - y[base + j] * dot) / n; } else { g = dy[base + j] / p.eps; }
        if (p.accumulate != 0u) { g += dx[base + j]; }
        dx[base + j] = g;
    }
}
