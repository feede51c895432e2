//! Exact GELU launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

pub fn forward(e: &Engine, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    let n = x.len();
    expect_len("gelu_forward", y, n)?;
    e.dispatch("gelu_forward", &[n as u32, 0, 0, 0], &[x, y], grid_1d(n, 256))
}

/// dx = dy * GELU'(x) (+ dx when `accumulate`).
pub fn backward(e: &Engine, x: &GpuTensor, dy: &GpuTensor, dx: &GpuTensor, accumulate: bool) -> Result<Dispatch> {
    let n = x.len();
    expect_len("gelu_backward", dy, n)?;
    expect_len("gelu_backward", dx, n)?;
    e.dispatch("gelu_backward", &[n as u32, accumulate as u32, 0, 0], &[x, dy, dx], grid_1d(n, 256))
}
