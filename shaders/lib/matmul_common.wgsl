// Shared by the vec4 matmul kernels (matmul_vec4.wgsl, matmul_subgroup.wgsl): parameters,
// bindings and the store of one row of four columns. Flags: lib/matmul_params.wgsl.

// #import matmul_params

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // [N] (FLAG_BIAS)
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // [batch or 1, M, N]
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>; // A again, as vec4
@group(0) @binding(6) var<storage, read_write> aux: array<f32>; // [batch, M, N] (FLAG_GELU, FLAG_GELU_GRAD)

// #import matmul_epilogue

// C[batch_out, m, col0 .. col0 + 4] from alpha * v through the epilogue, skipping what lies
// past M or N.
fn store_row4(batch_out: u32, m: u32, col0: u32, v: vec4<f32>) {
    if (m >= p.m) { return; }
    let row = batch_out * p.c_bs + m * p.n;
    for (var j = 0u; j < 4u; j++) {
        let n = col0 + j;
        if (n >= p.n) { break; }
        epilogue_store(row + n, n, p.alpha * v[j]);
    }
}
