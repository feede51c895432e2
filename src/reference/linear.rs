//! Linear layers y = x W^T + b on the reference matmul (the reference of `ops::linear`).

use super::matmul::{self, MatmulShape};

/// A linear layer's matmul shape: x [rows, in] times W [out, in] transposed.
pub fn shape(rows: usize, inp: usize, out: usize) -> MatmulShape {
    let mut s = MatmulShape::new(1, rows, out, inp);
    s.trans_b = true;
    s
}

/// y [rows, out] = x [rows, in] W^T + b.
pub fn forward(x: &[f64], w: &[f64], b: Option<&[f64]>, rows: usize, inp: usize, out: usize) -> Vec<f64> {
    matmul::forward(&shape(rows, inp, out), x, w, b, 1.0)
}

/// (dx [rows, in], dW [out, in], db [out]) for dy [rows, out].
pub fn backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    rows: usize,
    inp: usize,
    out: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    matmul::backward(&shape(rows, inp, out), x, w, dy, 1.0)
}
