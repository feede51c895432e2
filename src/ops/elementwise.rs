//! Elementwise kernels: scaled sums (out = alpha a + beta b), scaling with accumulation, fill.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

shader_params! {
    /// `add_scaled`: out = alpha a + beta b; `scale`: out = alpha x (+ out); `fill`: out = alpha.
    pub struct ElementwiseParams for ["elementwise"] { n: u32, alpha: f32, beta: f32, accumulate: u32 }
}

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
    e.dispatch(
        entry::ADD_SCALED,
        &ElementwiseParams { n: n as u32, alpha, beta, accumulate: 0 },
        &[a, b, out],
        grid_1d(n, 256),
    )
}

/// out = alpha * x (+ out when `accumulate`).
pub fn scale(e: &Engine, x: &GpuTensor, out: &GpuTensor, alpha: f32, accumulate: bool) -> Result<Dispatch> {
    let n = out.len();
    expect_len("scale", x, n)?;
    let d = &e.kernels.dummy;
    e.dispatch(
        entry::SCALE,
        &ElementwiseParams { n: n as u32, alpha, beta: 0.0, accumulate: accumulate as u32 },
        &[x, d, out],
        grid_1d(n, 256),
    )
}

/// out = value everywhere (zero-fill with 0).
pub fn fill(e: &Engine, out: &GpuTensor, value: f32) -> Result<Dispatch> {
    let n = out.len();
    let d = &e.kernels.dummy;
    e.dispatch(
        entry::FILL,
        &ElementwiseParams { n: n as u32, alpha: value, ..Default::default() },
        &[d, d, out],
        grid_1d(n, 256),
    )
}
