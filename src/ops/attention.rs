//! Fused masked multi-head attention (ADCLR mask as index ranges), forward and backward.
//!
//! Kernel variants (`variant` chooses from the engine's `AttentionKernel` and the shape; all
//! are tested on lavapipe):
//! - quad (`attention_*_quad`, shaders/attention_quad_*.wgsl): four lanes per row, 64 rows per
//!   workgroup, head_dim 64 only; the GPU default where subgroups have 4+ lanes. The fastest
//!   on the H100. Under `Precision::F16Mixed` its f16 build (`attention_*_quad_f16`,
//!   shaders/attention_quad_*_f16.wgsl): q, k, v and dO rounded to f16 as read and staged
//!   in f16, softmax, lse and gradients in f32; the other kernels stay f32.
//! - coop (`attention_*_coop8`, `attention_*_coop16`, shaders/attention_coop{8,16}_*.wgsl):
//!   cooperative matrices (tensor cores), head_dim 64, under `Precision::F16Mixed` only: QK^T,
//!   PV, dO V^T, dS K, P^T dO and dS^T Q on f16 operands (q, k, v, dO, and P and dS as they
//!   enter their products), softmax, lse and accumulation in f32; S query (or key) rows per
//!   subgroup, two passes over the keys in the forward (the row sums, then O = P V). Only where
//!   asked for (`ADCLR_ATTENTION=coop`, a candidate: `gpu::shipped`) and
//!   `Engine::coop_attention_size` has a size.
//! - tiled (`attention_*_tiled`): shared-memory tiles of 64 rows, an invocation per row,
//!   head_dim 64 only; the GPU default where subgroups have fewer than 4 lanes.
//! - subgroup (`attention_*_sg`): eight rows per 8-lane subgroup, head_dim % 4 == 0, qkv (and
//!   out and dout for the query gradient) read as textures (`gpu::texture`); lavapipe's
//!   default, where the tensors fit a texture.
//! - per row (`attention_forward`, `attention_backward_*`): an invocation per row, any
//!   head_dim up to 128; the fallback of the others for shapes they do not take.

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::entry;
use crate::gpu::kernels::coop_attention_max_subgroups;
use crate::gpu::params::shader_params;
use crate::gpu::texture;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};
use crate::gpu::{AttentionKernel, Precision};
pub use crate::reference::attention::{AttentionShape, QueryAttends};

/// The head dimension the kernels keep in registers.
pub use crate::spec::config::MAX_HEAD_DIM;

shader_params! {
    /// qkv [batch, tokens, 3, heads, head_dim]; tokens 0..n_base are CLS and patches, the rest
    /// queries; `mode` a `QueryAttends` (MODE_* in lib/attention_common.wgsl).
    pub struct AttentionParams for [
        "attention_forward", "attention_backward", "attention_tiled_forward", "attention_tiled_backward",
        "attention_quad_forward", "attention_quad_backward", "attention_quad_forward_f16", "attention_quad_backward_f16",
        "attention_subgroup_forward", "attention_subgroup_backward", "attention_coop8_forward", "attention_coop8_backward",
        "attention_coop16_forward", "attention_coop16_backward",
    ] {
        batch: u32, tokens: u32, heads: u32, head_dim: u32,
        n_base: u32, mode: u32, bidirectional: u32, _pad: u32,
        scale: f32, _p0: u32, _p1: u32, _p2: u32,
    }
}

/// The WGSL constants this launcher relies on: (shader file, name, value).
pub const SHADER_CONSTANTS: &[(&str, &str, u32)] = &[
    ("attention_forward", "MAX_HEAD_DIM", MAX_HEAD_DIM as u32),
    ("attention_forward", "MODE_CLS_PATCHES_SELF", QueryAttends::ClsPatchesSelf as u32),
    ("attention_forward", "MODE_CLS_PATCHES", QueryAttends::ClsPatches as u32),
    ("attention_forward", "MODE_PATCHES", QueryAttends::Patches as u32),
    ("attention_forward", "MODE_ALL", QueryAttends::All as u32),
    ("attention_tiled_forward", "HEAD_DIM", TILED_HEAD_DIM as u32),
    ("attention_tiled_forward", "ROWS", BLOCK_ROWS as u32),
    ("attention_quad_forward", "ROWS", BLOCK_ROWS as u32),
    ("attention_quad_forward_f16", "ROWS", BLOCK_ROWS as u32),
    ("attention_subgroup_forward", "LANES", SUBGROUP_ROWS as u32),
    ("attention_coop8_forward", "S", 8),
    ("attention_coop16_forward", "S", 16),
    ("attention_coop8_backward", "S", 8),
    ("attention_coop16_backward", "S", 16),
    ("attention_coop8_forward", "D", TILED_HEAD_DIM as u32),
    ("attention_coop8_forward", "MAX_SG", coop_attention_max_subgroups(8)),
    ("attention_coop8_backward", "MAX_SG", coop_attention_max_subgroups(8)),
    ("attention_coop16_forward", "MAX_SG", coop_attention_max_subgroups(16)),
    ("attention_coop16_backward", "MAX_SG", coop_attention_max_subgroups(16)),
    ("attention_subgroup_forward", "TEXTURE_WIDTH", texture::TEXTURE_WIDTH),
];

fn params(s: &AttentionShape) -> AttentionParams {
    AttentionParams {
        batch: s.batch as u32,
        tokens: s.tokens as u32,
        heads: s.heads as u32,
        head_dim: s.head_dim as u32,
        n_base: s.n_base as u32,
        mode: s.query_attends as u32,
        bidirectional: s.bidirectional as u32,
        scale: s.scale() as f32,
        ..Default::default()
    }
}

fn check(kernel: &'static str, s: &AttentionShape) -> Result<()> {
    if s.head_dim == 0 || s.head_dim > MAX_HEAD_DIM {
        return Err(shape_error(kernel, format!("head dim {} must be in 1..={MAX_HEAD_DIM}", s.head_dim)));
    }
    if s.n_base == 0 || s.n_base > s.tokens {
        return Err(shape_error(kernel, format!("n_base {} must be in 1..={}", s.n_base, s.tokens)));
    }
    Ok(())
}

/// The head size the shared-memory (tiled) kernels are compiled for.
pub const TILED_HEAD_DIM: usize = 64;
/// Rows per workgroup of the tiled and quad kernels (lib/attention_blocks.wgsl).
const BLOCK_ROWS: usize = 64;
/// Rows per subgroup of the subgroup kernels, one per lane (lib/attention_subgroup.wgsl).
const SUBGROUP_ROWS: usize = 8;

/// Which kernels run a shape, with their grid: four lanes per row, 64 rows per workgroup
/// (Quad, head_dim 64), shared-memory tiles of 64 rows with one invocation per row (Tiled,
/// head_dim 64), eight rows per subgroup (Subgroup, head_dim % 4 == 0, `textures`: the
/// tensors it reads as textures fit), else one invocation per row.
enum Variant {
    Coop(u32, [u32; 3]),
    Quad([u32; 3]),
    Tiled([u32; 3]),
    Subgroup([u32; 3]),
    PerRow([u32; 3]),
}

fn variant(e: &Engine, s: &AttentionShape, textures: bool) -> Variant {
    let rows = |per: usize| s.batch * s.heads * s.tokens.div_ceil(per) * per;
    let tiled_shape = s.head_dim == TILED_HEAD_DIM;
    match e.choice.attention {
        AttentionKernel::Coop if tiled_shape => match coop_grid(e, s) {
            Some((size, grid)) => Variant::Coop(size, grid),
            None => Variant::PerRow(grid_1d(s.lse_len(), 64)),
        },
        AttentionKernel::Quad if tiled_shape => Variant::Quad(grid_1d(rows(BLOCK_ROWS), 64)),
        AttentionKernel::Tiled if tiled_shape => Variant::Tiled(grid_1d(rows(BLOCK_ROWS), 64)),
        AttentionKernel::Subgroup if s.head_dim.is_multiple_of(4) && textures => {
            Variant::Subgroup(grid_1d(rows(SUBGROUP_ROWS), 64))
        }
        _ => Variant::PerRow(grid_1d(s.lse_len(), 64)),
    }
}

/// The quad kernels run their f16 build (the engine opens f16-mixed only where it compiles).
fn f16(e: &Engine) -> bool {
    e.choice.precision == Precision::F16Mixed
}

/// The cooperative-matrix kernels' size and grid for `s`: x the row blocks (S rows per
/// subgroup, as many subgroups as 64 invocations hold at the adapter's widest subgroups)
/// times the column chunks, y one per image and head. None where the engine has no such
/// kernels or the heads exceed a grid dimension.
fn coop_grid(e: &Engine, s: &AttentionShape) -> Option<(u32, [u32; 3])> {
    let size = e.coop_attention_size()?;
    let fewest_subgroups = (64 / e.ctx.info.subgroup_max_size.clamp(1, 64)).max(1);
    let rows = (fewest_subgroups * size) as usize;
    let chunks = TILED_HEAD_DIM as u32 / (4 * size);
    let heads = u32::try_from(s.batch * s.heads).ok()?;
    let blocks = u32::try_from(s.tokens.div_ceil(rows)).ok()? * chunks;
    let limit = e.ctx.limits.max_compute_workgroups_per_dimension;
    (heads <= limit && blocks <= limit).then_some((size, [blocks, heads, 1]))
}

/// out [batch, tokens, heads*head_dim] and lse [batch, heads, tokens] from qkv
/// [batch, tokens, 3, heads, head_dim] (the output of timm's qkv linear, unpermuted).
pub fn forward(e: &Engine, s: &AttentionShape, qkv: &GpuTensor, out: &GpuTensor, lse: &GpuTensor) -> Result<Dispatch> {
    check("attention_forward", s)?;
    expect_len("attention_forward", qkv, s.qkv_len())?;
    expect_len("attention_forward", out, s.out_len())?;
    expect_len("attention_forward", lse, s.lse_len())?;
    let (entry, grid) = match variant(e, s, texture::fits(&e.ctx, qkv)) {
        Variant::Coop(8, g) => (entry::ATTENTION_FORWARD_COOP8, g),
        Variant::Coop(_, g) => (entry::ATTENTION_FORWARD_COOP16, g),
        Variant::Quad(g) if f16(e) => (entry::ATTENTION_FORWARD_QUAD_F16, g),
        Variant::Quad(g) => (entry::ATTENTION_FORWARD_QUAD, g),
        Variant::Tiled(g) => (entry::ATTENTION_FORWARD_TILED, g),
        // qkv again, read as a texture.
        Variant::Subgroup(g) => return e.dispatch(entry::ATTENTION_FORWARD_SG, &params(s), &[qkv, out, lse, qkv], g),
        Variant::PerRow(g) => (entry::ATTENTION_FORWARD, g),
    };
    e.dispatch(entry, &params(s), &[qkv, out, lse], grid)
}

/// dqkv from dout, recomputing the probabilities from lse.
pub fn backward(
    e: &Engine,
    s: &AttentionShape,
    qkv: &GpuTensor,
    out: &GpuTensor,
    lse: &GpuTensor,
    dout: &GpuTensor,
    dqkv: &GpuTensor,
) -> Result<[Dispatch; 2]> {
    check("attention_backward", s)?;
    expect_len("attention_backward", qkv, s.qkv_len())?;
    expect_len("attention_backward", dqkv, s.qkv_len())?;
    expect_len("attention_backward", out, s.out_len())?;
    expect_len("attention_backward", dout, s.out_len())?;
    expect_len("attention_backward", lse, s.lse_len())?;
    let p = params(s);
    let bufs = [qkv, out, lse, dout, dqkv];
    let textures = [qkv, out, dout].iter().all(|t| texture::fits(&e.ctx, t));
    let (query, key_value, grid) = match variant(e, s, textures) {
        Variant::Coop(8, g) => (entry::ATTENTION_BACKWARD_QUERY_COOP8, entry::ATTENTION_BACKWARD_KEY_VALUE_COOP8, g),
        Variant::Coop(_, g) => (entry::ATTENTION_BACKWARD_QUERY_COOP16, entry::ATTENTION_BACKWARD_KEY_VALUE_COOP16, g),
        Variant::Quad(g) if f16(e) => {
            (entry::ATTENTION_BACKWARD_QUERY_QUAD_F16, entry::ATTENTION_BACKWARD_KEY_VALUE_QUAD_F16, g)
        }
        Variant::Quad(g) => (entry::ATTENTION_BACKWARD_QUERY_QUAD, entry::ATTENTION_BACKWARD_KEY_VALUE_QUAD, g),
        Variant::Tiled(g) => (entry::ATTENTION_BACKWARD_QUERY_TILED, entry::ATTENTION_BACKWARD_KEY_VALUE_TILED, g),
        Variant::Subgroup(g) => {
            // qkv, out and dout again, read as textures.
            let bufs = [qkv, out, lse, dout, dqkv, qkv, out, dout];
            let (query, key_value) = (entry::ATTENTION_BACKWARD_QUERY_SG, entry::ATTENTION_BACKWARD_KEY_VALUE_SG);
            return Ok([e.dispatch(query, &p, &bufs, g)?, e.dispatch(key_value, &p, &bufs, g)?]);
        }
        Variant::PerRow(g) => (entry::ATTENTION_BACKWARD_QUERY, entry::ATTENTION_BACKWARD_KEY_VALUE, g),
    };
    Ok([e.dispatch(query, &p, &bufs, grid)?, e.dispatch(key_value, &p, &bufs, grid)?])
}
