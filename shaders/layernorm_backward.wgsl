// LayerNorm backward. With xhat = (x - mean) * rstd and g = dy * w:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (one workgroup per row)
//   dw = sum_rows dy * xhat,  db = sum_rows dy          (one thread per column, in row order)
// `accumulate` adds into dx / dw / db instead of overwriting (residual streams, shared weights).
// On GPUs dw and db take two passes: layernorm_backward_params_chunks writes the sums over
// chunks of `chunk_rows` rows into dw and db bound as [chunks, d] scratch, and column_sum
// (reduce.wgsl) adds the chunks in order.

struct Params { rows: u32, d: u32, accumulate: u32, chunk_rows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [rows, d]
@group(0) @binding(2) var<storage, read> w: array<f32>;        // [d]
@group(0) @binding(3) var<storage, read> mean: array<f32>;     // [rows]
@group(0) @binding(4) var<storage, read> rstd: array<f32>;     // [rows]
@group(0) @binding(5) var<storage, read> dy: array<f32>;       // [rows, d]
@group(0) @binding(6) var<storage, read_write> dx: array<f32>; // [rows, d]
@group(0) @binding(7) var<storage, read_write> dw: array<f32>; // [d]
@group(0) @binding(8) var<storage, read_write> db: array<f32>; // [d]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn layernorm_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let mu = mean[row];
    let r = rstd[row];
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = li; j < p.d; j += 256u) {
        let g = dy[base + j] * w[j];
        sg += g;
        sgx += g * (x[base + j] - mu) * r;
    }
    let mean_g = workgroup_sum(li, sg) / f32(p.d);
    let mean_gx = workgroup_sum(li, sgx) / f32(p.d);
    for (var j = li; j < p.d; j += 256u) {
        let xhat = (x[base + j] - mu) * r;
        var v = r * (dy[base + j] * w[j] - mean_g - xhat * mean_gx);
        if (p.accumulate != 0u) { v += dx[base + j]; }
        dx[base + j] = v;
    }
}

@compute @workgroup_size(256)
fn layernorm_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) li: u32) {
    let j = (wg.y * nwg.x + wg.x) * 256u + li;
    if (j >= p.d) { return; }
    var sw = 0.0;
    var sb = 0.0;
    for (var row = 0u; row < p.rows; row++) {
        let g = dy[row * p.d + j];
        sw += g * (x[row * p.d + j] - mean[row]) * rstd[row];
        sb += g;
    }
    if (p.accumulate != 0u) { sw += dw[j]; sb += db[j]; }
    dw[j] = sw;
    db[j] = sb;
}

// Partial dw and db over the rows of chunk workgroup_id.y: dw, db are [chunks, d] here.
@compute @workgroup_size(256)
fn layernorm_backward_params_chunks(@builtin(workgroup_id) wg: vec3<u32>,
                                    @builtin(local_invocation_index) li: u32) {
    let j = wg.x * 256u + li;
    if (j >= p.d) { return; }
    let first = wg.y * p.chunk_rows;
    let last = min(first + p.chunk_rows, p.rows);
    var sw = 0.0;
    var sb = 0.0;
    for (var row = first; row < last; row++) {
        let g = dy[row * p.d + j];
        sw += g * (x[row * p.d + j] - mean[row]) * rstd[row];
        sb += g;
    }
    dw[wg.y * p.d + j] = sw;
    db[wg.y * p.d + j] = sb;
}

// layernorm_backward_input with one invocation per row and no barriers (CPU drivers).
@compute @workgroup_size(64)
fn layernorm_backward_input_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                    @builtin(local_invocation_index) li: u32) {
    let row = (wg.y * nwg.x + wg.x) * 64u + li;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let mu = mean[row];
    let r = rstd[row];
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = 0u; j < p.d; j++) {
        let g = dy[base + j] * w[j];
        sg += g;
        sgx += g * (x[base + j] - mu) * r;
    }
    let mean_g = sg / f32(p.d);
    let mean_gx = sgx / f32(p.d);
    for (var j = 0u; j < p.d; j++) {
        let xhat = (x[base + j] - mu) * r;
        var v = r * (dy[base + j] * w[j] - mean_g - xhat * mean_gx);
        if (p.accumulate != 0u) { v += dx[base + j]; }
        dx[base + j] = v;
    }
}
