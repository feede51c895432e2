// Softmax-with-temperature backward: dx = inv_temp * y * (dy - sum_j dy_j y_j).

struct Params { rows: u32, cols: u32, inv_temp: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;        // [rows, cols]
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // [rows, cols]
@group(0) @binding(3) var<storage, read_write> dx: array<f32>; // [rows, cols]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn softmax_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var s = 0.0;
    for (var j = li; j < p.cols; j += 256u) { s += dy[base + j] * y[base + j]; }
    let dot = workgroup_sum(li, s);
    for (var j = li; j < p.cols; j += 256u) {
        dx[base + j] = p.inv_temp * y[base + j] * (dy[base + j] - dot);
    }
}
