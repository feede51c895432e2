//! Linear layers, y = x W^T + b, on the matmul kernels: forward, forward with the GELU fused
//! into the store, backward, and backward through a GELU that precedes the layer. A layer's
//! parameters (or its gradients) are a `Linear`: weight [out, in] and bias [out], views into
//! a flat parameter buffer; the sizes come from the weight's shape.

use super::matmul::{self, MatmulShape};
use crate::error::{shape_error, Result};
use crate::gpu::{Dispatch, Engine, GpuTensor};
pub use crate::reference::linear::shape;

/// A linear layer's weight [out, in] and optional bias [out] (or their gradients).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: GpuTensor,
    pub bias: Option<GpuTensor>,
}

impl Linear {
    /// (in, out) from the weight's shape: [out, in], or [out, C, P, P] for the patch embedding
    /// (a convolution whose stride is its kernel, in timm's layout).
    pub fn sizes(&self) -> Result<(usize, usize)> {
        match self.weight.shape[..] {
            [out, _, ..] if out > 0 => Ok((self.weight.len() / out, out)),
            _ => Err(shape_error("linear", format!("weight `{}` is not [out, in, ..]", self.weight.name))),
        }
    }

    fn shape(&self, rows: usize) -> Result<MatmulShape> {
        let (inp, out) = self.sizes()?;
        Ok(shape(rows, inp, out))
    }
}

/// y [rows, out] = x [rows, in] W^T + b.
pub fn forward(e: &Engine, x: &GpuTensor, l: &Linear, y: &GpuTensor, rows: usize) -> Result<Dispatch> {
    matmul::forward(e, &l.shape(rows)?, x, &l.weight, l.bias.as_ref(), y, 1.0, false)
}

/// pre = x W^T + b and out = GELU(pre), fused into the matmul's store.
pub fn forward_gelu(
    e: &Engine,
    x: &GpuTensor,
    l: &Linear,
    (pre, out): (&GpuTensor, &GpuTensor),
    rows: usize,
) -> Result<Dispatch> {
    let (w, b) = (&l.weight, l.bias.as_ref());
    matmul::forward_with(e, &l.shape(rows)?, (x, w, b), pre, 1.0, false, matmul::Epilogue::Gelu { out })
}

/// dx = dy W (overwritten; skipped when None); dW += dy^T x and db += colsum(dy) into `grad`.
pub fn backward(
    e: &Engine,
    x: &GpuTensor,
    l: &Linear,
    dy: &GpuTensor,
    dx: Option<&GpuTensor>,
    grad: &Linear,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    let s = l.shape(rows)?;
    let mut d = Vec::new();
    if let Some(dx) = dx {
        d.extend(matmul::backward(e, &s, x, &l.weight, dy, Some(dx), None, None, 1.0, false)?);
    }
    let (dw, db) = (Some(&grad.weight), grad.bias.as_ref());
    d.extend(matmul::backward(e, &s, x, &l.weight, dy, None, dw, db, 1.0, true)?);
    Ok(d)
}

/// Backward of y = GELU(pre_x) W^T + b where the input x = GELU(pre_x) is given: d_pre =
/// (dy W) * gelu'(pre_x) (overwritten), then dW and db into `grad`.
pub fn backward_through_gelu(
    e: &Engine,
    (x, pre_x): (&GpuTensor, &GpuTensor),
    l: &Linear,
    dy: &GpuTensor,
    d_pre: &GpuTensor,
    grad: &Linear,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    let mut d = vec![matmul::backward_input_gelu(e, &l.shape(rows)?, &l.weight, dy, d_pre, pre_x, 1.0)?];
    d.extend(backward(e, x, l, dy, None, grad, rows)?);
    Ok(d)
}
