//! Weight-normalised linear layer launchers: w = g v / ||v|| per output row (a workgroup per
//! row on GPUs, an invocation per row on CPU drivers).

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, grid_rows, Dispatch, Engine, GpuTensor};

shader_params! {
    pub struct WeightNormParams for ["weight_norm_forward", "weight_norm_backward"] { rows: u32, d: u32, _p0: u32, _p1: u32 }
}

/// w [rows, d] and vnorm [rows] from g [rows] and v [rows, d].
pub fn forward(e: &Engine, g: &GpuTensor, v: &GpuTensor, w: &GpuTensor, vnorm: &GpuTensor) -> Result<Dispatch> {
    let rows = g.len();
    let d = v.len() / rows.max(1);
    expect_len("weight_norm_forward", v, rows * d)?;
    expect_len("weight_norm_forward", w, rows * d)?;
    expect_len("weight_norm_forward", vnorm, rows)?;
    let p = WeightNormParams { rows: rows as u32, d: d as u32, ..Default::default() };
    if e.rows_per_invocation() {
        return e.dispatch(entry::WEIGHT_NORM_FORWARD_ROWWISE, &p, &[g, v, w, vnorm], grid_1d(rows, 64));
    }
    e.dispatch(entry::WEIGHT_NORM_FORWARD, &p, &[g, v, w, vnorm], grid_rows(rows))
}

/// dg and dv from dW.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    e: &Engine,
    g: &GpuTensor,
    v: &GpuTensor,
    vnorm: &GpuTensor,
    dw: &GpuTensor,
    dg: &GpuTensor,
    dv: &GpuTensor,
) -> Result<Dispatch> {
    let rows = g.len();
    let d = v.len() / rows.max(1);
    for t in [v, dw, dv] {
        expect_len("weight_norm_backward", t, rows * d)?;
    }
    for t in [vnorm, dg] {
        expect_len("weight_norm_backward", t, rows)?;
    }
    let p = WeightNormParams { rows: rows as u32, d: d as u32, ..Default::default() };
    let bufs = [g, v, vnorm, dw, dg, dv];
    if e.rows_per_invocation() {
        return e.dispatch(entry::WEIGHT_NORM_BACKWARD_ROWWISE, &p, &bufs, grid_1d(rows, 64));
    }
    e.dispatch(entry::WEIGHT_NORM_BACKWARD, &p, &bufs, grid_rows(rows))
}
