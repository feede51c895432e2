// Row gather and its backward scatter: dst[dst_row0 + r] = src[index[r]] (rows of `dim`),
// and dsrc[index[r]] = ddst[dst_row0 + r]. Indices are unique, so the scatter is
// deterministic; rows of dsrc that no index names are left as they are (zero-fill first).

struct Params { rows: u32, dim: u32, dst_row0: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // gather: [*, dim];   scatter: ddst
@group(0) @binding(2) var<storage, read> index: array<u32>;      // [rows]
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // gather: [*, dim];   scatter: dsrc

@compute @workgroup_size(256)
fn gather_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.rows * p.dim) { return; }
    let r = i / p.dim;
    let k = i % p.dim;
    dst[(p.dst_row0 + r) * p.dim + k] = src[index[r] * p.dim + k];
}

@compute @workgroup_size(256)
fn scatter_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.rows * p.dim) { return; }
    let r = i / p.dim;
    let k = i % p.dim;
    dst[index[r] * p.dim + k] = src[(p.dst_row0 + r) * p.dim + k];
}
