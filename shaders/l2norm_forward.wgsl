// Row L2 normalisation: y = x / max(||x||, eps) (as torch's F.normalize), one workgroup per
// row; saves the row norms.

struct Params { rows: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [rows, d]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;    // [rows, d]
@group(0) @binding(3) var<storage, read_write> norm: array<f32>; // [rows]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn l2norm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    var s = 0.0;
    for (var j = li; j < p.d; j += 256u) { s += x[base + j] * x[base + j]; }
    let n = sqrt(workgroup_sum(li, s));
    let inv = 1.0 / max(n, p.eps);
    for (var j = li; j < p.d; j += 256u) { y[base + j] = x[base + j] * inv; }
    if (li == 0u) { norm[row] = n; }
}
