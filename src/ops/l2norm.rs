//! Row L2 normalisation launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_rows, Dispatch, Engine, GpuTensor};

shader_params! {
    pub struct L2NormForwardParams for ["l2norm_forward"] { rows: u32, d: u32, eps: f32, _pad: u32 }
}
shader_params! {
    pub struct L2NormBackwardParams for ["l2norm_backward"] { rows: u32, d: u32, eps: f32, accumulate: u32 }
}

/// The eps of torch's F.normalize.
pub const EPS: f32 = 1e-12;

/// y = x / max(||x||, eps) per row of d; saves the norms [rows].
pub fn forward(e: &Engine, x: &GpuTensor, y: &GpuTensor, norm: &GpuTensor, d: usize) -> Result<Dispatch> {
    let rows = x.len() / d.max(1);
    expect_len("l2norm_forward", x, rows * d)?;
    expect_len("l2norm_forward", y, rows * d)?;
    expect_len("l2norm_forward", norm, rows)?;
    let params = L2NormForwardParams { rows: rows as u32, d: d as u32, eps: EPS, _pad: 0 };
    e.dispatch(entry::L2NORM_FORWARD, &params, &[x, y, norm], grid_rows(rows))
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
    let params = L2NormBackwardParams { rows: rows as u32, d: d as u32, eps: EPS, accumulate: 0 };
    e.dispatch(entry::L2NORM_BACKWARD, &params, &[y, norm, dy, dx], grid_rows(rows))
}
