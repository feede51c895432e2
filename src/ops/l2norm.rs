//! Row L2 normalisation launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::{bits, grid_rows, Dispatch, Engine, GpuTensor};

/// The eps of torch's F.normalize.
pub const EPS: f32 = 1e-12;

/// y = x / max(||x||, eps) per row of d; saves the norms [rows].
pub fn forward(e: &Engine, x: &GpuTensor, y: &GpuTensor, norm: &GpuTensor, d: usize) -> Result<Dispatch> {
    let rows = x.len() / d.max(1);
    expect_len("l2norm_forward", x, rows * d)?;
    expect_len("l2norm_forward", y, rows * d)?;
    expect_len("l2norm_forward", norm, rows)?;
    e.dispatch("l2norm_forward", &[rows as u32, d as u32, bits(EPS), 0], &[x, y, norm], grid_rows(rows))
}

pub fn backward(
    e: &Engine,
    y: &GpuTensor,
    norm: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
    d: usize,
) -> Result<Dispatch> {
    let rows = y.len() / d.max(1);
    for t in [y, dy, dx] {
        expect_len("l2norm_backward", t, rows * d)?;
    }
    expect_len("l2norm_backward", norm, rows)?;
    e.dispatch("l2norm_backward", &[rows as u32, d as u32, bits(EPS), 0], &[y, norm, dy, dx], grid_rows(rows))
}
