// LayerNorm over the last dimension: y = (x - mean) * rstd * w + b, one workgroup per row.
// Saves mean and rstd = 1 / sqrt(var + eps) for the backward pass.

struct Params { rows: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [rows, d]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [d]
@group(0) @binding(3) var<storage, read> b: array<f32>;          // [d]
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // [rows, d]
@group(0) @binding(5) var<storage, read_write> mean: array<f32>; // [rows]
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>; // [rows]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn layernorm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    var s = 0.0;
    for (var j = li; j < p.d; j += 256u) { s += x[base + j]; }
    let mu = workgroup_sum(li, s) / f32(p.d);
    var s2 = 0.0;
    for (var j = li; j < p.d; j += 256u) { let c = x[base + j] - mu; s2 += c * c; }
    let r = inverseSqrt(workgroup_sum(li, s2) / f32(p.d) + p.eps);
    for (var j = li; j < p.d; j += 256u) {
        y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
    }
    if (li == 0u) { mean[row] = mu; rstd[row] = r; }
}

// The same with one invocation per row and no barriers (for CPU drivers, where a
// workgroup's barriers cost more than the row's arithmetic).
@compute @workgroup_size(64)
fn layernorm_forward_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) li: u32) {
    let row = (wg.y * nwg.x + wg.x) * 64u + li;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    var s = 0.0;
    for (var j = 0u; j < p.d; j++) { s += x[base + j]; }
    let mu = s / f32(p.d);
    var s2 = 0.0;
    for (var j = 0u; j < p.d; j++) { let c = x[base + j] - mu; s2 += c * c; }
    let r = inverseSqrt(s2 / f32(p.d) + p.eps);
    for (var j = 0u; j < p.d; j++) {
        y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
    }
    mean[row] = mu;
    rstd[row] = r;
}
