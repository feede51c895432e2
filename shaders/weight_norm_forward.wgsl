// Weight-normalised linear layer weights (DINO's last layer): w_k = g_k * v_k / ||v_k||,
// one workgroup per output row k; saves ||v_k||. The product with the input is a matmul.

struct Params { rows: u32, d: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;           // [rows] (weight_g [K, 1])
@group(0) @binding(2) var<storage, read> v: array<f32>;           // [rows, d] (weight_v)
@group(0) @binding(3) var<storage, read_write> w: array<f32>;     // [rows, d]
@group(0) @binding(4) var<storage, read_write> vnorm: array<f32>; // [rows]

// #import workgroup_reduce

@compute @workgroup_size(256)
fn weight_norm_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    var s = 0.0;
    for (var j = li; j < p.d; j += 256u) { s += v[base + j] * v[base + j]; }
    let n = sqrt(workgroup_sum(li, s));
    let f = g[row] / n;
    for (var j = li; j < p.d; j += 256u) { w[base + j] = v[base + j] * f; }
    if (li == 0u) { vnorm[row] = n; }
}

// The same with one invocation per row and no barriers (CPU drivers).
@compute @workgroup_size(64)
fn weight_norm_forward_rowwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) li: u32) {
    let row = (wg.y * nwg.x + wg.x) * 64u + li;
    if (row >= p.rows) { return; }
    let base = row * p.d;
    var s = 0.0;
    for (var j = 0u; j < p.d; j++) { s += v[base + j] * v[base + j]; }
    let n = sqrt(s);
    let f = g[row] / n;
    for (var j = 0u; j < p.d; j++) { w[base + j] = v[base + j] * f; }
    vnorm[row] = n;
}
