//! LayerNorm, forward and backward.
//!
//! Kernel variants: a workgroup per row with barrier reductions (`layernorm_forward`,
//! `layernorm_backward_input`: `RowKernels::Workgroup`, GPUs) or an invocation per row
//! (`*_rowwise`: `RowKernels::Invocation`, CPU drivers). The weight and bias gradients are one
//! pass over the rows (`layernorm_backward_params`) or, on GPUs with many rows, chunk sums
//! (`layernorm_backward_params_chunks`) added by `reduce::column_sum_once`.

use super::expect_len;
use super::reduce::{column_sum_once, row_chunks};
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, grid_rows, Dispatch, Engine, GpuTensor};

shader_params! {
    pub struct LayerNormForwardParams for ["layernorm_forward"] { rows: u32, d: u32, eps: f32, _pad: u32 }
}
shader_params! {
    /// `chunk_rows`: rows per chunk of the two-pass weight gradients (`rows` in one pass).
    pub struct LayerNormBackwardParams for ["layernorm_backward"] { rows: u32, d: u32, accumulate: u32, chunk_rows: u32 }
}

/// Row kernels: one invocation per row on CPU drivers (no barriers), a workgroup per row
/// elsewhere.
fn rowwise(e: &Engine) -> bool {
    e.rows_per_invocation()
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
    let params = LayerNormForwardParams { rows: rows as u32, d: d as u32, eps, _pad: 0 };
    if rowwise(e) {
        return e.dispatch(entry::LAYERNORM_FORWARD_ROWWISE, &params, &[x, w, b, y, mean, rstd], grid_1d(rows, 64));
    }
    e.dispatch(entry::LAYERNORM_FORWARD, &params, &[x, w, b, y, mean, rstd], grid_rows(rows))
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
) -> Result<Vec<Dispatch>> {
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
    let params = LayerNormBackwardParams {
        rows: rows as u32,
        d: d as u32,
        accumulate: accumulate as u32,
        chunk_rows: rows as u32,
    };
    let bufs = [x, w, mean, rstd, dy, dx, dw, db];
    let mut out = vec![if rowwise(e) {
        e.dispatch(entry::LAYERNORM_BACKWARD_INPUT_ROWWISE, &params, &bufs, grid_1d(rows, 64))?
    } else {
        e.dispatch(entry::LAYERNORM_BACKWARD_INPUT, &params, &bufs, grid_rows(rows))?
    }];
    // dw, db: chunk sums into the two scratch buffers, then their column sums (GPUs);
    // one thread per column over every row otherwise.
    let (chunks, chunk_rows) = row_chunks(e, rows, d);
    match &e.scratch {
        Some([sw, sb]) if chunks > 1 => {
            let sw = sw.view(&e.ctx, "layernorm dw chunks", 0, &[chunks, d])?;
            let sb = sb.view(&e.ctx, "layernorm db chunks", 0, &[chunks, d])?;
            let params = LayerNormBackwardParams {
                rows: rows as u32,
                d: d as u32,
                accumulate: 0,
                chunk_rows: chunk_rows as u32,
            };
            let grid = [(d as u32).div_ceil(256), chunks as u32, 1];
            let bufs = [x, w, mean, rstd, dy, dx, &sw, &sb];
            out.push(e.dispatch(entry::LAYERNORM_BACKWARD_PARAMS_CHUNKS, &params, &bufs, grid)?);
            out.push(column_sum_once(e, &sw, dw, chunks, d, accumulate)?);
            out.push(column_sum_once(e, &sb, db, chunks, d, accumulate)?);
        }
        _ => out.push(e.dispatch(entry::LAYERNORM_BACKWARD_PARAMS, &params, &bufs, grid_1d(d, 256))?),
    }
    Ok(out)
}

/// A LayerNorm's weight and bias [D] (or their gradients).
#[derive(Clone, Debug)]
pub struct Norm {
    pub weight: GpuTensor,
    pub bias: GpuTensor,
}

/// y = LayerNorm(x) with `n`'s parameters, saving (mean, rstd) per row.
pub fn forward_norm(
    e: &Engine,
    x: &GpuTensor,
    n: &Norm,
    y: &GpuTensor,
    (mean, rstd): (&GpuTensor, &GpuTensor),
    eps: f32,
) -> Result<Dispatch> {
    forward(e, x, &n.weight, &n.bias, y, mean, rstd, eps)
}

/// dx += the input gradient (`accumulate`) or = it; the weight and bias gradients into `grad`.
pub fn backward_norm(
    e: &Engine,
    x: &GpuTensor,
    n: &Norm,
    (mean, rstd): (&GpuTensor, &GpuTensor),
    (dy, dx): (&GpuTensor, &GpuTensor),
    grad: &Norm,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    backward(e, x, &n.weight, mean, rstd, dy, dx, &grad.weight, &grad.bias, accumulate)
}
