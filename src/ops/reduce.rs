//! Column sums (shaders/reduce.wgsl): bias gradients, and the second pass of every reduction
//! over rows that runs in two passes on GPUs (LayerNorm's weight gradients, split-K weight
//! gradients).

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

shader_params! {
    /// `chunk_rows`: rows per chunk of `column_sum_chunks` (`rows` for `column_sum`).
    pub struct ReduceParams for ["reduce"] { rows: u32, cols: u32, accumulate: u32, chunk_rows: u32 }
}

/// Rows below which a column reduction runs in one pass on any device.
const TWO_PASS_MIN_ROWS: usize = 256;

/// How a reduction over `rows` rows of `cols` columns is split on this engine: `(chunks,
/// rows per chunk)`, about sqrt(rows) of each so both passes loop about as long; `(1, rows)`
/// for one pass (CPU drivers, few rows, or chunks that would not fit the scratch).
pub fn row_chunks(e: &Engine, rows: usize, cols: usize) -> (usize, usize) {
    let Some(scratch) = &e.scratch else { return (1, rows) };
    if rows < TWO_PASS_MIN_ROWS {
        return (1, rows);
    }
    let fit = scratch[0].len() / cols.max(1);
    let chunk_rows = rows.div_ceil((rows as f64).sqrt().ceil() as usize).max(rows.div_ceil(fit.max(1)));
    let chunks = rows.div_ceil(chunk_rows);
    if !(2..=65535).contains(&chunks) {
        return (1, rows);
    }
    (chunks, chunk_rows)
}

/// dst[j] = sum_i src[i, j] (+ dst[j] with `accumulate`), src [rows, cols]: a bias gradient.
/// Two passes on GPUs (chunk sums into `Engine::scratch[0]`, then their sum).
pub fn column_sum(
    e: &Engine,
    src: &GpuTensor,
    dst: &GpuTensor,
    rows: usize,
    cols: usize,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    let (chunks, chunk_rows) = row_chunks(e, rows, cols);
    let Some([partial, _]) = e.scratch.as_ref().filter(|_| chunks > 1) else {
        return Ok(vec![column_sum_once(e, src, dst, rows, cols, accumulate)?]);
    };
    expect_len("column_sum", src, rows * cols)?;
    let partial = partial.view(&e.ctx, "column_sum chunks", 0, &[chunks, cols])?;
    let params = ReduceParams { rows: rows as u32, cols: cols as u32, accumulate: 0, chunk_rows: chunk_rows as u32 };
    let grid = [(cols as u32).div_ceil(256), chunks as u32, 1];
    Ok(vec![
        e.dispatch(entry::COLUMN_SUM_CHUNKS, &params, &[src, &partial], grid)?,
        column_sum_once(e, &partial, dst, chunks, cols, accumulate)?,
    ])
}

/// `column_sum` in one pass: one thread per column adds the rows in order.
pub fn column_sum_once(
    e: &Engine,
    src: &GpuTensor,
    dst: &GpuTensor,
    rows: usize,
    cols: usize,
    accumulate: bool,
) -> Result<Dispatch> {
    expect_len("column_sum", src, rows * cols)?;
    expect_len("column_sum", dst, cols)?;
    let params =
        ReduceParams { rows: rows as u32, cols: cols as u32, accumulate: accumulate as u32, chunk_rows: rows as u32 };
    e.dispatch(entry::COLUMN_SUM, &params, &[src, dst], grid_1d(cols, 256))
}
