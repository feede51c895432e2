// Token assembly for one group of views: x[b, t] =
//   t = 0:           cls + pos[0]
//   1 <= t <= N:     patch_proj[b, t - 1] + pos[t]
//   N < t < T:       query_proj[b, t - 1 - N]        (query tokens carry no position)
// and its backward: dcls (+)= sum_b dx[b, 0], dpos[t] (+)= sum_b dx[b, t] for t <= N
// (ordered loops over b), dpatch / dquery the matching slices of dx.

struct Params { images: u32, patches: u32, queries: u32, dim: u32, accumulate: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;            // fwd: cls [dim];   bwd: dx [images, T, dim]
@group(0) @binding(2) var<storage, read> b: array<f32>;            // fwd: pos [1 + N, dim]
@group(0) @binding(3) var<storage, read> c: array<f32>;            // fwd: patch_proj [images * N, dim]
@group(0) @binding(4) var<storage, read> d: array<f32>;            // fwd: query_proj [images * Q, dim]
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;   // fwd: x [images, T, dim]; bwd: dpatch [images * N, dim] / dcls [dim]
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;   // bwd: dquery [images * Q, dim] / dpos [1 + N, dim]

fn index(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 256u + li;
}

@compute @workgroup_size(256)
fn tokens_assemble(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
    let tokens = 1u + p.patches + p.queries;
    let i = index(wg, nwg, li);
    if (i >= p.images * tokens * p.dim) { return; }
    let k = i % p.dim;
    let t = (i / p.dim) % tokens;
    let img = i / (p.dim * tokens);
    var v: f32;
    if (t == 0u) {
        v = a[k] + b[k];
    } else if (t <= p.patches) {
        v = c[(img * p.patches + t - 1u) * p.dim + k] + b[t * p.dim + k];
    } else {
        v = d[(img * p.queries + t - 1u - p.patches) * p.dim + k];
    }
    out0[i] = v;
}

// dpatch and dquery: slices of dx. out0 = dpatch, out1 = dquery.
@compute @workgroup_size(256)
fn tokens_split_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let tokens = 1u + p.patches + p.queries;
    let i = index(wg, nwg, li);
    if (i >= p.images * tokens * p.dim) { return; }
    let k = i % p.dim;
    let t = (i / p.dim) % tokens;
    let img = i / (p.dim * tokens);
    if (t == 0u) { return; }
    if (t <= p.patches) {
        out0[(img * p.patches + t - 1u) * p.dim + k] = a[i];
    } else {
        out1[(img * p.queries + t - 1u - p.patches) * p.dim + k] = a[i];
    }
}

// dcls and dpos: sums over images. out0 = dcls, out1 = dpos. One thread per (t <= N, k).
@compute @workgroup_size(256)
fn tokens_position_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let tokens = 1u + p.patches + p.queries;
    let i = index(wg, nwg, li);
    if (i >= (1u + p.patches) * p.dim) { return; }
    let k = i % p.dim;
    let t = i / p.dim;
    var s = 0.0;
    for (var img = 0u; img < p.images; img++) {
        s += a[(img * tokens + t) * p.dim + k];
    }
    var pos_grad = s;
    if (p.accumulate != 0u) { pos_grad += out1[i]; }
    out1[i] = pos_grad;
    if (t == 0u) {
        var cls_grad = s;
        if (p.accumulate != 0u) { cls_grad += out0[k]; }
        out0[k] = cls_grad;
    }
}
