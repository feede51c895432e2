// The last step of every matmul kernel for one element of C at index ci, column n, given
// alpha * (A B)[m, n] as x. Expects `p` (flags), `bias`, `c` and `aux` declared by the kernel.
// The FLAG_* bits of lib/matmul_params.wgsl say which steps apply.

// #import erf

fn epilogue_store(ci: u32, n: u32, x_in: f32) {
    var x = x_in;
    if ((p.flags & FLAG_BIAS) != 0u) { x += bias[n]; }
    if ((p.flags & FLAG_ACCUMULATE) != 0u) { x += c[ci]; }
    if ((p.flags & FLAG_GELU) != 0u) { aux[ci] = gelu(x); }
    if ((p.flags & FLAG_GELU_GRAD) != 0u) { x *= gelu_grad(aux[ci]); }
    c[ci] = x;
}
