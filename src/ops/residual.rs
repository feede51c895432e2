//! Residual connections with per-sample branch scaling (drop-path).

use super::expect_len;
use crate::error::Result;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

/// Where a residual's per-sample scales are: `scale[offset..offset + samples]`.
#[derive(Clone, Copy, Debug)]
pub struct SampleScale<'a> {
    pub scale: &'a GpuTensor,
    pub offset: usize,
}

fn check_scale(kernel: &'static str, s: &SampleScale, samples: usize) -> Result<()> {
    if s.offset + samples > s.scale.len() {
        return Err(crate::error::shape_error(
            kernel,
            format!("scales {}..{} past {}", s.offset, s.offset + samples, s.scale.len()),
        ));
    }
    Ok(())
}

/// out = x + scale[sample] * branch; rows of `dim`, `rows_per_sample` rows per sample.
pub fn add(
    e: &Engine,
    x: &GpuTensor,
    branch: &GpuTensor,
    scale: SampleScale,
    out: &GpuTensor,
    dim: usize,
    rows_per_sample: usize,
) -> Result<Dispatch> {
    let n = out.len();
    expect_len("residual_add", x, n)?;
    expect_len("residual_add", branch, n)?;
    check_scale("residual_add", &scale, n / (dim * rows_per_sample))?;
    let p = [n as u32, dim as u32, rows_per_sample as u32, scale.offset as u32];
    let scale = scale.scale;
    e.dispatch("residual_add", &p, &[x, branch, scale, out], grid_1d(n, 256))
}

/// dbranch = scale[sample] * dout (dx is dout itself).
pub fn branch_grad(
    e: &Engine,
    dout: &GpuTensor,
    scale: SampleScale,
    dbranch: &GpuTensor,
    dim: usize,
    rows_per_sample: usize,
) -> Result<Dispatch> {
    let n = dout.len();
    expect_len("residual_branch_grad", dbranch, n)?;
    check_scale("residual_branch_grad", &scale, n / (dim * rows_per_sample))?;
    let p = [n as u32, dim as u32, rows_per_sample as u32, scale.offset as u32];
    let scale = scale.scale;
    e.dispatch("residual_branch_grad", &p, &[dout, &e.kernels.dummy, scale, dbranch], grid_1d(n, 256))
}
