//! Residual connections with per-sample branch scaling (drop-path).

use super::expect_len;
use crate::error::Result;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

/// out = x + scale[sample] * branch; rows of `dim`, `rows_per_sample` rows per sample.
pub fn add(
    e: &Engine,
    x: &GpuTensor,
    branch: &GpuTensor,
    scale: &GpuTensor,
    out: &GpuTensor,
    dim: usize,
    rows_per_sample: usize,
) -> Result<Dispatch> {
    let n = out.len();
    expect_len("residual_add", x, n)?;
    expect_len("residual_add", branch, n)?;
    expect_len("residual_add", scale, n / (dim * rows_per_sample))?;
    let p = [n as u32, dim as u32, rows_per_sample as u32, 0];
    e.dispatch("residual_add", &p, &[x, branch, scale, out], grid_1d(n, 256))
}

/// dbranch = scale[sample] * dout (dx is dout itself).
pub fn branch_grad(
    e: &Engine,
    dout: &GpuTensor,
    scale: &GpuTensor,
    dbranch: &GpuTensor,
    dim: usize,
    rows_per_sample: usize,
) -> Result<Dispatch> {
    let n = dout.len();
    expect_len("residual_branch_grad", dbranch, n)?;
    expect_len("residual_branch_grad", scale, n / (dim * rows_per_sample))?;
    let p = [n as u32, dim as u32, rows_per_sample as u32, 0];
    e.dispatch("residual_branch_grad", &p, &[dout, &e.kernels.dummy, scale, dbranch], grid_1d(n, 256))
}
