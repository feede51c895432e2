// The last step of every matmul kernel for one element of C at index ci, column n, given
// alpha * (A B)[m, n] as x. Expects `p` (flags), `bias`, `c` and `aux` declared by the kernel.
// Flags: 1 add bias[n]; 2 add C's old value; 8 (bias + GELU) also write aux[ci] = gelu(x),
// C keeping the pre-activation; 16 (GELU backward) C = x * gelu'(aux[ci]), aux holding the
// pre-activation.

// #import erf

fn epilogue_store(ci: u32, n: u32, x_in: f32) {
    var x = x_in;
    if ((p.flags & 1u) != 0u) { x += bias[n]; }
    if ((p.flags & 2u) != 0u) { x += c[ci]; }
    if ((p.flags & 8u) != 0u) { aux[ci] = gelu(x); }
    if ((p.flags & 16u) != 0u) { x *= gelu_grad(aux[ci]); }
    c[ci] = x;
}
