// Column sums of a row-major matrix (a bias gradient): dst[j] = sum_i src[i, j] (+ dst[j]).
// One thread per column, rows summed in order: deterministic, no atomics.
// On GPUs one thread per column leaves most of the device idle when rows are many, so the
// sum runs in two passes there: column_sum_chunks writes the sums of chunks of `chunk_rows`
// rows, [chunks, cols], and column_sum adds those chunk rows in order.

struct Params { rows: u32, cols: u32, accumulate: u32, chunk_rows: u32 }

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

// dst[c, j] = sum of src[i, j] over rows i of chunk c ([c * chunk_rows, (c + 1) * chunk_rows)),
// in row order; one workgroup row per chunk (workgroup_id.y).
@compute @workgroup_size(256)
fn column_sum_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let j = wg.x * 256u + li;
    if (j >= p.cols) { return; }
    let first = wg.y * p.chunk_rows;
    let last = min(first + p.chunk_rows, p.rows);
    var s = 0.0;
    for (var i = first; i < last; i++) {
        s += src[i * p.cols + j];
    }
    dst[wg.y * p.cols + j] = s;
}
