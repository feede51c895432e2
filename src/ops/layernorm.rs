//! LayerNorm launchers.

use super::expect_len;
use crate::error::Result;
use crate::gpu::{bits, grid_1d, grid_rows, Dispatch, Engine, GpuTensor};

/// Row kernels: one invocation per row on CPU drivers (no barriers), a workgroup per row
/// elsewhere.
fn rowwise(e: &Engine) -> bool {
    e.policy().rowwise()
}

/// y = LN(x) * w + b over rows of d; saves mean and rstd [rows].
#[allow(clippy::too_many_arguments)]
pub fn forward(
    e: &Engine,
    x: &GpuTensor,
    w: &GpuTensor,
    b: &GpuTensor,
    y: &GpuTensor,
    mean: &GpuTensor,
    rstd: &GpuTensor,
    eps: f32,
) -> Result<Dispatch> {
    let d = w.len();
    let rows = x.len() / d.max(1);
    expect_len("layernorm_forward", x, rows * d)?;
    expect_len("layernorm_forward", b, d)?;
    expect_len("layernorm_forward", y, rows * d)?;
    expect_len("layernorm_forward", mean, rows)?;
    expect_len("layernorm_forward", rstd, rows)?;
    if rowwise(e) {
        return e.dispatch(
            "layernorm_forward_rowwise",
            &[rows as u32, d as u32, bits(eps), 0],
            &[x, w, b, y, mean, rstd],
            grid_1d(rows, 64),
        );
    }
    e.dispatch("layernorm_forward", &[rows as u32, d as u32, bits(eps), 0], &[x, w, b, y, mean, rstd], grid_rows(rows))
}

/// dx, dw, db from dy (added to the existing values with `accumulate`).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    e: &Engine,
    x: &GpuTensor,
    w: &GpuTensor,
    mean: &GpuTensor,
    rstd: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
    dw: &GpuTensor,
    db: &GpuTensor,
    accumulate: bool,
) -> Result<[Dispatch; 2]> {
    let d = w.len();
    let rows = x.len() / d.max(1);
    for t in [x, dy, dx] {
        expect_len("layernorm_backward", t, rows * d)?;
    }
    for t in [mean, rstd] {
        expect_len("layernorm_backward", t, rows)?;
    }
    for t in [dw, db] {
        expect_len("layernorm_backward", t, d)?;
    }
    let params = [rows as u32, d as u32, accumulate as u32, 0];
    let bufs = [x, w, mean, rstd, dy, dx, dw, db];
    Ok([
        if rowwise(e) {
            e.dispatch("layernorm_backward_input_rowwise", &params, &bufs, grid_1d(rows, 64))?
        } else {
            e.dispatch("layernorm_backward_input", &params, &bufs, grid_rows(rows))?
        },
        e.dispatch("layernorm_backward_params", &params, &bufs, grid_1d(d, 256))?,
    ])
}
