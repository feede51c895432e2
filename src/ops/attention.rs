//! Fused masked multi-head attention launchers (ADCLR mask as index ranges).

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::kernels::MatmulPolicy;
use crate::gpu::{bits, grid_1d, Dispatch, Engine, GpuTensor};
pub use crate::reference::attention::{AttentionShape, QueryAttends};

/// The head dimension the kernels keep in registers.
pub use crate::spec::config::MAX_HEAD_DIM;

fn params(s: &AttentionShape) -> [u32; 12] {
    [
        s.batch as u32,
        s.tokens as u32,
        s.heads as u32,
        s.head_dim as u32,
        s.n_base as u32,
        s.query_attends as u32,
        s.bidirectional as u32,
        0,
        bits(s.scale() as f32),
        0,
        0,
        0,
    ]
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

/// Which kernels run a shape, with their grid: four lanes per row, 64 rows per workgroup (the
/// Large policy, the GPU default, head_dim 64, subgroups of 4 lanes or more; not with
/// `ADCLR_ATTENTION=tiled`), shared-memory tiles of 64 rows with one invocation per row (GPU
/// policies otherwise, head_dim 64), eight rows per subgroup (the Subgroup policy, head_dim %
/// 4 == 0), or one invocation per row.
enum Variant {
    Quad([u32; 3]),
    Tiled([u32; 3]),
    Subgroup([u32; 3]),
    PerRow([u32; 3]),
}

fn variant(e: &Engine, s: &AttentionShape) -> Variant {
    let rows = |per: usize| s.batch * s.heads * s.tokens.div_ceil(per) * per;
    let quads = e.kernels.has("attention_forward_quad")
        && e.ctx.info.subgroup_min_size >= 4
        && std::env::var("ADCLR_ATTENTION").as_deref() != Ok("tiled");
    match e.row_policy() {
        MatmulPolicy::Large if s.head_dim == TILED_HEAD_DIM && quads => Variant::Quad(grid_1d(rows(64), 64)),
        MatmulPolicy::Tiled | MatmulPolicy::Large if s.head_dim == TILED_HEAD_DIM => {
            Variant::Tiled(grid_1d(rows(64), 64))
        }
        MatmulPolicy::Subgroup if s.head_dim.is_multiple_of(4) && e.kernels.has("attention_forward_sg") => {
            Variant::Subgroup(grid_1d(rows(8), 64))
        }
        _ => Variant::PerRow(grid_1d(s.lse_len(), 64)),
    }
}

/// out [batch, tokens, heads*head_dim] and lse [batch, heads, tokens] from qkv
/// [batch, tokens, 3, heads, head_dim] (the output of timm's qkv linear, unpermuted).
pub fn forward(e: &Engine, s: &AttentionShape, qkv: &GpuTensor, out: &GpuTensor, lse: &GpuTensor) -> Result<Dispatch> {
    check("attention_forward", s)?;
    expect_len("attention_forward", qkv, s.qkv_len())?;
    expect_len("attention_forward", out, s.out_len())?;
    expect_len("attention_forward", lse, s.lse_len())?;
    let (entry, grid) = match variant(e, s) {
        Variant::Quad(g) => ("attention_forward_quad", g),
        Variant::Tiled(g) => ("attention_forward_tiled", g),
        Variant::Subgroup(g) => ("attention_forward_sg", g),
        Variant::PerRow(g) => ("attention_forward", g),
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
    let (query, key_value, grid) = match variant(e, s) {
        Variant::Quad(g) => ("attention_backward_query_quad", "attention_backward_key_value_quad", g),
        Variant::Tiled(g) => ("attention_backward_query_tiled", "attention_backward_key_value_tiled", g),
        Variant::Subgroup(g) => ("attention_backward_query_sg", "attention_backward_key_value_sg", g),
        Variant::PerRow(g) => ("attention_backward_query", "attention_backward_key_value", g),
    };
    Ok([e.dispatch(query, &p, &bufs, grid)?, e.dispatch(key_value, &p, &bufs, grid)?])
}
