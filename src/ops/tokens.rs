//! Token assembly [CLS, patches + pos, queries] for a group of views, and its backward.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};
pub use crate::reference::tokens::TokenShape;

shader_params! {
    pub struct TokensParams for ["tokens"] {
        images: u32, patches: u32, queries: u32, dim: u32, accumulate: u32, _p0: u32, _p1: u32, _p2: u32,
    }
}

fn params(s: &TokenShape, accumulate: bool) -> TokensParams {
    TokensParams {
        images: s.images as u32,
        patches: s.patches as u32,
        queries: s.queries as u32,
        dim: s.dim as u32,
        accumulate: accumulate as u32,
        ..Default::default()
    }
}

/// x [images, T, dim] from cls [dim], pos [1 + N, dim], patch_proj [images * N, dim] and
/// query_proj [images * Q, dim] (Q may be 0: pass any tensor).
pub fn assemble(
    e: &Engine,
    s: &TokenShape,
    cls: &GpuTensor,
    pos: &GpuTensor,
    patch_proj: &GpuTensor,
    query_proj: &GpuTensor,
    x: &GpuTensor,
) -> Result<Dispatch> {
    expect_len("tokens_assemble", cls, s.dim)?;
    expect_len("tokens_assemble", pos, (1 + s.patches) * s.dim)?;
    expect_len("tokens_assemble", patch_proj, s.images * s.patches * s.dim)?;
    if s.queries > 0 {
        expect_len("tokens_assemble", query_proj, s.images * s.queries * s.dim)?;
    }
    expect_len("tokens_assemble", x, s.x_len())?;
    let d = &e.kernels.dummy;
    e.dispatch(
        entry::TOKENS_ASSEMBLE,
        &params(s, false),
        &[cls, pos, patch_proj, query_proj, x, d],
        grid_1d(s.x_len(), 256),
    )
}

/// dpatch and dquery (overwritten), dcls and dpos (added to with `accumulate`) from dx.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    e: &Engine,
    s: &TokenShape,
    dx: &GpuTensor,
    dpatch: &GpuTensor,
    dquery: &GpuTensor,
    dcls: &GpuTensor,
    dpos: &GpuTensor,
    accumulate: bool,
) -> Result<[Dispatch; 2]> {
    expect_len("tokens_backward", dx, s.x_len())?;
    expect_len("tokens_backward", dpatch, s.images * s.patches * s.dim)?;
    if s.queries > 0 {
        expect_len("tokens_backward", dquery, s.images * s.queries * s.dim)?;
    }
    expect_len("tokens_backward", dcls, s.dim)?;
    expect_len("tokens_backward", dpos, (1 + s.patches) * s.dim)?;
    let d = &e.kernels.dummy;
    let p = params(s, accumulate);
    Ok([
        e.dispatch(entry::TOKENS_SPLIT_GRAD, &p, &[dx, d, d, d, dpatch, dquery], grid_1d(s.x_len(), 256))?,
        e.dispatch(entry::TOKENS_POSITION_GRAD, &p, &[dx, d, d, d, dcls, dpos], grid_1d((1 + s.patches) * s.dim, 256))?,
    ])
}
