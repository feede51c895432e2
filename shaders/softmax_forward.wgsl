// Row softmax with temperature: y = softmax(x * inv_temp), one workgroup per row,
// max-subtracted for stability.

struct Params { rows: u32, cols: u32, inv_temp: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [rows, cols]
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [rows, cols]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn softmax_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var m = -3.0e38;
    for (var j = li; j < p.cols; j += 256u) { m = max(m, x[base + j] * p.inv_temp); }
    let row_max = workgroup_max(li, m);
    var s = 0.0;
    for (var j = li; j < p.cols; j += 256u) { s += exp(x[base + j] * p.inv_temp - row_max); }
    let inv_sum = 1.0 / workgroup_sum(li, s);
    for (var j = li; j < p.cols; j += 256u) {
        y[base + j] = exp(x[base + j] * p.inv_temp - row_max) * inv_sum;
    }
}
