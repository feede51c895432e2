//! Exact GELU launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

shader_params! {
    pub struct GeluForwardParams for ["gelu_forward"] { n: u32, _p0: u32, _p1: u32, _p2: u32 }
}
shader_params! {
    pub struct GeluBackwardParams for ["gelu_backward"] { n: u32, accumulate: u32, _p1: u32, _p2: u32 }
}

pub fn forward(e: &Engine, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    let n = x.len();
    expect_len("gelu_forward", y, n)?;
    e.dispatch(entry::GELU_FORWARD, &GeluForwardParams { n: n as u32, ..Default::default() }, &[x, y], grid_1d(n, 256))
}

/// dx = dy * GELU'(x) (+ dx when `accumulate`).
pub fn backward(e: &Engine, x: &GpuTensor, dy: &GpuTensor, dx: &GpuTensor, accumulate: bool) -> Result<Dispatch> {
    let n = x.len();
    expect_len("gelu_backward", dy, n)?;
    expect_len("gelu_backward", dx, n)?;
    e.dispatch(
        entry::GELU_BACKWARD,
        &GeluBackwardParams { n: n as u32, accumulate: accumulate as u32, ..Default::default() },
        &[x, dy, dx],
        grid_1d(n, 256),
    )
}
