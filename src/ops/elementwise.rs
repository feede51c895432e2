//! Residual add with scaling, scaling/accumulation and fill.

use super::expect_len;
use crate::error::Result;
use crate::gpu::{bits, grid_1d, Dispatch, Engine, GpuTensor};

/// out = alpha * a + beta * b (a residual add with alpha = beta = 1).
/// Its backward is two `scale` dispatches: da = alpha dy, db = beta dy.
pub fn add_scaled(
    e: &Engine,
    a: &GpuTensor,
    b: &GpuTensor,
    out: &GpuTensor,
    alpha: f32,
    beta: f32,
) -> Result<Dispatch> {
    let n = out.len();
    expect_len("add_scaled", a, n)?;
    expect_len("add_scaled", b, n)?;
    e.dispatch("add_scaled", &[n as u32, bits(alpha), bits(beta), 0], &[a, b, out], grid_1d(n, 256))
}

/// out = alpha * x (+ out when `accumulate`).
pub fn scale(e: &Engine, x: &GpuTensor, out: &GpuTensor, alpha: f32, accumulate: bool) -> Result<Dispatch> {
    let n = out.len();
    expect_len("scale", x, n)?;
    let d = &e.kernels.dummy;
    e.dispatch("scale", &[n as u32, bits(alpha), 0, accumulate as u32], &[x, d, out], grid_1d(n, 256))
}

/// out = value everywhere (zero-fill with 0).
pub fn fill(e: &Engine, out: &GpuTensor, value: f32) -> Result<Dispatch> {
    let n = out.len();
    let d = &e.kernels.dummy;
    e.dispatch("fill", &[n as u32, bits(value), 0, 0], &[d, d, out], grid_1d(n, 256))
}
