//! Residual connections with per-sample branch scaling (drop path), alone or fused with the
//! LayerNorm that follows.
//!
//! Kernel variants: `residual_add` / `residual_branch_grad` (elementwise); the fused
//! `residual_layernorm` (a workgroup per row, rows up to 1024 wide: a workgroup per row) or
//! `residual_layernorm_rowwise` (an invocation per row: CPU drivers); where the fused kernel is
//! missing (devices with fewer than 9 storage buffers) or the row is too wide, the add and a
//! separate LayerNorm.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};

shader_params! {
    /// `n` floats of rows `dim` wide; sample s = row / rows_per_sample scales by scale[scale_offset + s].
    pub struct ResidualParams for ["residual"] { n: u32, dim: u32, rows_per_sample: u32, scale_offset: u32 }
}

impl ResidualParams {
    fn new(n: usize, dim: usize, rows_per_sample: usize, scale: &SampleScale) -> Self {
        Self {
            n: n as u32,
            dim: dim as u32,
            rows_per_sample: rows_per_sample as u32,
            scale_offset: scale.offset as u32,
        }
    }
}

shader_params! {
    pub struct ResidualLayerNormParams for ["residual_layernorm"] {
        rows: u32, d: u32, eps: f32, rows_per_sample: u32, scale_offset: u32, _p0: u32, _p1: u32, _p2: u32,
    }
}

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
    check_scale(entry::RESIDUAL_ADD, &scale, n / (dim * rows_per_sample))?;
    let p = ResidualParams::new(n, dim, rows_per_sample, &scale);
    let scale = scale.scale;
    e.dispatch(entry::RESIDUAL_ADD, &p, &[x, branch, scale, out], grid_1d(n, 256))
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
    check_scale(entry::RESIDUAL_BRANCH_GRAD, &scale, n / (dim * rows_per_sample))?;
    let p = ResidualParams::new(n, dim, rows_per_sample, &scale);
    let scale = scale.scale;
    e.dispatch(entry::RESIDUAL_BRANCH_GRAD, &p, &[dout, &e.kernels.dummy, scale, dbranch], grid_1d(n, 256))
}

/// The LayerNorm that follows a residual add: weight and bias [dim], its output [rows, dim]
/// and saved statistics [rows].
#[derive(Clone, Copy)]
pub struct NextNorm<'a> {
    pub w: &'a GpuTensor,
    pub b: &'a GpuTensor,
    pub eps: f32,
    pub y: &'a GpuTensor,
    pub mean: &'a GpuTensor,
    pub rstd: &'a GpuTensor,
}

/// The widest row a workgroup of the fused kernel holds in registers: 4 per invocation x 256.
const FUSED_MAX_DIM: usize = 1024;

/// The WGSL constants this launcher relies on: (shader file, name, value).
pub const SHADER_CONSTANTS: &[(&str, &str, u32)] = &[("residual_layernorm", "MAX_D", FUSED_MAX_DIM as u32)];

/// out = x + scale[sample] * branch, then `norm` of out: one fused dispatch where the device
/// has the kernel (and the row fits a workgroup's registers or the row kernels are one invocation
/// per row), else `add` and `layernorm::forward`.
#[allow(clippy::too_many_arguments)]
pub fn add_then_layernorm(
    e: &Engine,
    x: &GpuTensor,
    branch: &GpuTensor,
    scale: SampleScale,
    out: &GpuTensor,
    dim: usize,
    rows_per_sample: usize,
    norm: NextNorm,
) -> Result<Vec<Dispatch>> {
    let rowwise = e.rows_per_invocation();
    if !e.kernels.has(entry::RESIDUAL_LAYERNORM) || (!rowwise && dim > FUSED_MAX_DIM) {
        return Ok(vec![
            add(e, x, branch, scale, out, dim, rows_per_sample)?,
            super::layernorm::forward(e, out, norm.w, norm.b, norm.y, norm.mean, norm.rstd, norm.eps)?,
        ]);
    }
    let n = out.len();
    let rows = n / dim.max(1);
    let kernel = entry::RESIDUAL_LAYERNORM;
    expect_len(kernel, x, n)?;
    expect_len(kernel, branch, n)?;
    expect_len(kernel, norm.w, dim)?;
    expect_len(kernel, norm.b, dim)?;
    expect_len(kernel, norm.y, n)?;
    expect_len(kernel, norm.mean, rows)?;
    expect_len(kernel, norm.rstd, rows)?;
    check_scale(kernel, &scale, rows / rows_per_sample.max(1))?;
    let p = ResidualLayerNormParams {
        rows: rows as u32,
        d: dim as u32,
        eps: norm.eps,
        rows_per_sample: rows_per_sample as u32,
        scale_offset: scale.offset as u32,
        ..Default::default()
    };
    let bufs = [x, branch, scale.scale, norm.w, norm.b, out, norm.y, norm.mean, norm.rstd];
    Ok(vec![if rowwise {
        e.dispatch(entry::RESIDUAL_LAYERNORM_ROWWISE, &p, &bufs, grid_1d(rows, 64))?
    } else {
        e.dispatch(entry::RESIDUAL_LAYERNORM, &p, &bufs, crate::gpu::grid_rows(rows))?
    }])
}
