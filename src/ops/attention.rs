//! Fused masked multi-head attention launchers (ADCLR mask as index ranges).

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::kernels::MatmulPolicy;
use crate::gpu::{bits, grid_1d, Dispatch, Engine, GpuTensor};
pub use crate::reference::attention::{AttentionShape, QueryAttends};

/// The head dimension the kernels keep in registers.
pub const MAX_HEAD_DIM: usize = 128;

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

/// The subgroup kernels (8 rows of one image and head per subgroup) where the engine's
/// policy is Subgroup and rows load as vec4; otherwise one invocation per row.
fn subgroup_grid(e: &Engine, s: &AttentionShape) -> Option<[u32; 3]> {
    let use_sg = e.kernels.matmul_policy == MatmulPolicy::Subgroup && s.head_dim % 4 == 0;
    use_sg.then(|| grid_1d(s.batch * s.heads * s.tokens.div_ceil(8) * 8, 64))
}

/// out [batch, tokens, heads*head_dim] and lse [batch, heads, tokens] from qkv
/// [batch, tokens, 3, heads, head_dim] (the output of timm's qkv linear, unpermuted).
pub fn forward(e: &Engine, s: &AttentionShape, qkv: &GpuTensor, out: &GpuTensor, lse: &GpuTensor) -> Result<Dispatch> {
    check("attention_forward", s)?;
    expect_len("attention_forward", qkv, s.qkv_len())?;
    expect_len("attention_forward", out, s.out_len())?;
    expect_len("attention_forward", lse, s.lse_len())?;
    if let Some(grid) = subgroup_grid(e, s) {
        return e.dispatch("attention_forward_sg", &params(s), &[qkv, out, lse], grid);
    }
    e.dispatch("attention_forward", &params(s), &[qkv, out, lse], grid_1d(s.lse_len(), 64))
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
    if let Some(grid) = subgroup_grid(e, s) {
        return Ok([
            e.dispatch("attention_backward_query_sg", &p, &bufs, grid)?,
            e.dispatch("attention_backward_key_value_sg", &p, &bufs, grid)?,
        ]);
    }
    let grid = grid_1d(s.lse_len(), 64);
    Ok([
        e.dispatch("attention_backward_query", &p, &bufs, grid)?,
        e.dispatch("attention_backward_key_value", &p, &bufs, grid)?,
    ])
}
