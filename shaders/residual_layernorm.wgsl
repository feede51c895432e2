// A residual add followed by the next LayerNorm, fused: per row
//   out = x + scale[scale_offset + row / rows_per_sample] * branch     (residual.wgsl)
//   y = (out - mean) * rstd * w + b, saving mean and rstd             (layernorm_forward.wgsl)
// reading x and branch once instead of writing `out` and reading it back twice.
// residual_layernorm: one workgroup per row, the row held in registers (d <= 1024);
// residual_layernorm_rowwise: one invocation per row, no barriers (CPU drivers).

struct Params {
    rows: u32, d: u32, eps: f32, rows_per_sample: u32,
    scale_offset: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [rows, d]
@group(0) @binding(2) var<storage, read> branch: array<f32>;     // [rows, d]
@group(0) @binding(3) var<storage, read> scale: array<f32>;      // [.., samples] (from scale_offset)
@group(0) @binding(4) var<storage, read> w: array<f32>;          // [d]
@group(0) @binding(5) var<storage, read> b: array<f32>;          // [d]
@group(0) @binding(6) var<storage, read_write> out: array<f32>;  // [rows, d]
@group(0) @binding(7) var<storage, read_write> y: array<f32>;    // [rows, d]
@group(0) @binding(8) var<storage, read_write> mean: array<f32>; // [rows]
@group(0) @binding(9) var<storage, read_write> rstd: array<f32>; // [rows]

// #import workgroup_reduce

const PER_THREAD: u32 = 4u;
const MAX_D: u32 = PER_THREAD * 256u; // the widest row a workgroup of 256 holds (src/ops/residual.rs)

@compute @workgroup_size(256)
fn residual_layernorm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; } // the whole workgroup
    let base = row * p.d;
    let s = scale[p.scale_offset + row / p.rows_per_sample];
    var v: array<f32, PER_THREAD>;
    var sum = 0.0;
    for (var t = 0u; t < PER_THREAD; t++) {
        let j = li + t * 256u;
        if (j < p.d) {
            v[t] = x[base + j] + s * branch[base + j];
            out[base + j] = v[t];
            sum += v[t];
        }
    }
    let mu = workgroup_sum(li, sum) / f32(p.d);
    var s2 = 0.0;
    for (var t = 0u; t < PER_THREAD; t++) {
        if (li + t * 256u < p.d) { let c = v[t] - mu; s2 += c * c; }
    }
    let r = inverseSqrt(workgroup_sum(li, s2) / f32(p.d) + p.eps);
    for (var t = 0u; t < PER_THREAD; t++) {
        let j = li + t * 256u;
        if (j < p.d) { y[base + j] = (v[t] - mu) * r * w[j] + b[j]; }
    }
    if (li == 0u) { mean[row] = mu; rstd[row] = r; }
}

@compute @workgroup_size(64)
fn residual_layernorm_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) li: u32) {
    let row = (wg.y * nwg.x + wg.x) * 64u + li;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let s = scale[p.scale_offset + row / p.rows_per_sample];
    var sum = 0.0;
    for (var j = 0u; j < p.d; j++) {
        let v = x[base + j] + s * branch[base + j];
        out[base + j] = v;
        sum += v;
    }
    let mu = sum / f32(p.d);
    var s2 = 0.0;
    for (var j = 0u; j < p.d; j++) { let c = out[base + j] - mu; s2 += c * c; }
    let r = inverseSqrt(s2 / f32(p.d) + p.eps);
    for (var j = 0u; j < p.d; j++) {
        y[base + j] = (out[base + j] - mu) * r * w[j] + b[j];
    }
    mean[row] = mu;
    rstd[row] = r;
}
