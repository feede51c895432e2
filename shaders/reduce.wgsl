// Column sums of a row-major matrix (a bias gradient): dst[j] = sum_i src[i, j] (+ dst[j]).
// One thread per column, rows summed in order: deterministic, no atomics.

struct Params { rows: u32, cols: u32, accumulate: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // [rows, cols]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>; // [cols]

@compute @workgroup_size(256)
fn column_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let j = (wg.y * nwg.x + wg.x) * 256u + li;
    if (j >= p.cols) { return; }
    var s = 0.0;
    for (var i = 0u; i < p.rows; i++) {
        s += src[i * p.cols + j];
    }
    if (p.accumulate != 0u) { s += dst[j]; }
    dst[j] = s;
}
