// Parameters and bindings of the workgroup-tiled matmuls (matmul.wgsl, matmul_large.wgsl):
// operands as plain f32 arrays addressed through their strides.

// #import matmul_params

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;      // [N] (FLAG_BIAS)
@group(0) @binding(4) var<storage, read_write> c: array<f32>;   // [batch, M, N]
@group(0) @binding(5) var<storage, read_write> aux: array<f32>; // [batch, M, N] (FLAG_GELU, FLAG_GELU_GRAD)

// #import matmul_epilogue
