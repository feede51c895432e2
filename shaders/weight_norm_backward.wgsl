// Weight-norm backward from dW: with u = v / ||v||,
//   dg_k = dW_k . u_k,   dv_k = (g_k / ||v_k||) (dW_k - (dW_k . u_k) u_k).

struct Params { rows: u32, d: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;        // [rows]
@group(0) @binding(2) var<storage, read> v: array<f32>;        // [rows, d]
@group(0) @binding(3) var<storage, read> vnorm: array<f32>;    // [rows]
@group(0) @binding(4) var<storage, read> dw: array<f32>;       // [rows, d]
@group(0) @binding(5) var<storage, read_write> dg: array<f32>; // [rows]
@group(0) @binding(6) var<storage, read_write> dv: array<f32>; // [rows, d]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn weight_norm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let n = vnorm[row];
    var s = 0.0;
    for (var j = li; j < p.d; j += 256u) { s += dw[base + j] * v[base + j]; }
    let dot_u = workgroup_sum(li, s) / n;
    let f = g[row] / n;
    for (var j = li; j < p.d; j += 256u) {
        dv[base + j] = f * (dw[base + j] - dot_u * v[base + j] / n);
    }
    if (li == 0u) { dg[row] = dot_u; }
}

// The same with one invocation per row and no barriers (CPU drivers).
@compute @workgroup_size(64)
fn weight_norm_backward_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) li: u32) {
    let row = (wg.y * nwg.x + wg.x) * 64u + li;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    let n = vnorm[row];
    var s = 0.0;
    for (var j = 0u; j < p.d; j++) { s += dw[base + j] * v[base + j]; }
    let dot_u = s / n;
    let f = g[row] / n;
    for (var j = 0u; j < p.d; j++) {
        dv[base + j] = f * (dw[base + j] - dot_u * v[base + j] / n);
    }
    dg[row] = dot_u;
}
