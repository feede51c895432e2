// The parameter block of every matmul kernel: C[b] = alpha * op(A)[b] op(B)[b] (+ bias) (+ C),
// op(A)[b] M x K with element (m, k) at b * a_bs + m * a_rs + k * a_cs (op(B) likewise), C
// dense [batch, M, N] with batch stride c_bs.

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_rs: u32, a_cs: u32, a_bs: u32, b_rs: u32,
    b_cs: u32, b_bs: u32, c_bs: u32, flags: u32, // 4 = sum over batch into C[0]; others: lib/matmul_epilogue
    alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
