// Residual connection with per-sample branch scaling (drop-path / stochastic depth):
//   out[r] = x[r] + scale[scale_offset + r / rows_per_sample] * branch[r]
// Backward: dx = dout (the residual gradient flows through unchanged), and
//   dbranch[r] = scale[scale_offset + r / rows_per_sample] * dout[r]            (residual_branch_grad)

struct Params { n: u32, dim: u32, rows_per_sample: u32, scale_offset: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [rows, dim] (branch_grad: dout)
@group(0) @binding(2) var<storage, read> branch: array<f32>;     // [rows, dim]
@group(0) @binding(3) var<storage, read> scale: array<f32>;      // [.., samples] (from scale_offset)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // [rows, dim]

@compute @workgroup_size(256)
fn residual_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n) { return; }
    out[i] = x[i] + scale[p.scale_offset + i / (p.dim * p.rows_per_sample)] * branch[i];
}

@compute @workgroup_size(256)
fn residual_branch_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n) { return; }
    out[i] = scale[p.scale_offset + i / (p.dim * p.rows_per_sample)] * x[i];
}
