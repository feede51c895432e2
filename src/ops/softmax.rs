//! Row softmax with temperature launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_rows, Dispatch, Engine, GpuTensor};

shader_params! {
    pub struct SoftmaxParams for ["softmax_forward", "softmax_backward"] { rows: u32, cols: u32, inv_temp: f32, _pad: u32 }
}

/// y = softmax(x / temperature) over rows of `cols`.
pub fn forward(e: &Engine, x: &GpuTensor, y: &GpuTensor, cols: usize, temperature: f32) -> Result<Dispatch> {
    let rows = x.len() / cols.max(1);
    expect_len("softmax_forward", x, rows * cols)?;
    expect_len("softmax_forward", y, rows * cols)?;
    let params = SoftmaxParams { rows: rows as u32, cols: cols as u32, inv_temp: 1.0 / temperature, _pad: 0 };
    e.dispatch(entry::SOFTMAX_FORWARD, &params, &[x, y], grid_rows(rows))
}

/// dx from the forward output y and dy.
pub fn backward(
    e: &Engine,
    y: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
    cols: usize,
    temperature: f32,
) -> Result<Dispatch> {
    let rows = y.len() / cols.max(1);
    for t in [y, dy, dx] {
        expect_len("softmax_backward", t, rows * cols)?;
    }
    let params = SoftmaxParams { rows: rows as u32, cols: cols as u32, inv_temp: 1.0 / temperature, _pad: 0 };
    e.dispatch(entry::SOFTMAX_BACKWARD, &params, &[y, dy, dx], grid_rows(rows))
}
