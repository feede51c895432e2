//! Row gather (e.g. CLS and query rows into the head's input) and its backward scatter.

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

shader_params! {
    /// `rows` indices of `dim` floats each, written from (gather) or read at (scatter) row `dst_row0`.
    pub struct RowsParams for ["rows"] { rows: u32, dim: u32, dst_row0: u32, _pad: u32 }
}

impl RowsParams {
    fn new(rows: usize, dim: usize, dst_row0: usize) -> Self {
        Self { rows: rows as u32, dim: dim as u32, dst_row0: dst_row0 as u32, _pad: 0 }
    }
}

fn check(kernel: &'static str, index: &GpuTensor, src_rows: usize, dst_rows: usize, dst_row0: usize) -> Result<()> {
    if dst_row0 + index.len() > dst_rows {
        return Err(shape_error(kernel, format!("{} rows at {dst_row0} overflow {dst_rows}", index.len())));
    }
    if src_rows == 0 {
        return Err(shape_error(kernel, "empty source"));
    }
    Ok(())
}

/// dst[dst_row0 + r] = src[index[r]] for rows of `dim`; `index` is a u32 tensor.
pub fn gather(
    e: &Engine,
    src: &GpuTensor,
    index: &GpuTensor,
    dst: &GpuTensor,
    dim: usize,
    dst_row0: usize,
) -> Result<Dispatch> {
    check("gather_rows", index, src.len() / dim, dst.len() / dim, dst_row0)?;
    expect_len("gather_rows", dst, dst.len() / dim * dim)?;
    let n = index.len();
    e.dispatch(entry::GATHER_ROWS, &RowsParams::new(n, dim, dst_row0), &[src, index, dst], grid_1d(n * dim, 256))
}

/// dsrc[index[r]] = ddst[dst_row0 + r] (other rows untouched: fill them first).
pub fn scatter(
    e: &Engine,
    ddst: &GpuTensor,
    index: &GpuTensor,
    dsrc: &GpuTensor,
    dim: usize,
    dst_row0: usize,
) -> Result<Dispatch> {
    check("scatter_rows", index, dsrc.len() / dim, ddst.len() / dim, dst_row0)?;
    let n = index.len();
    e.dispatch(entry::SCATTER_ROWS, &RowsParams::new(n, dim, dst_row0), &[ddst, index, dsrc], grid_1d(n * dim, 256))
}
