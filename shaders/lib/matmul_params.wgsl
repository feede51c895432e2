// The parameter block of every matmul kernel: C[b] = alpha * op(A)[b] op(B)[b] (+ bias) (+ C),
// op(A)[b] M x K with element (m, k) at b * a_bs + m * a_rs + k * a_cs (op(B) likewise), C
// dense [batch, M, N] with batch stride c_bs.

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_rs: u32, a_cs: u32, a_bs: u32, b_rs: u32,
    b_cs: u32, b_bs: u32, c_bs: u32, flags: u32, // FLAG_* below
    alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// Bits of `flags`, the same values as src/ops/matmul.rs's (tests/shaders_validate.rs checks).
const FLAG_BIAS: u32 = 1u;        // add bias[n]
const FLAG_ACCUMULATE: u32 = 2u;  // add C's old value
const FLAG_SUM_BATCH: u32 = 4u;   // sum over the batch into C[0] (a weight broadcast over the batch)
const FLAG_GELU: u32 = 8u;        // also write aux = gelu(x), C keeping the pre-activation
const FLAG_GELU_GRAD: u32 = 16u;  // C = x * gelu'(aux), aux holding the pre-activation

@group(0) @binding(0) var<uniform> p: Params;
