//! The batched strided matmul and its backward (input and weight gradients, split-K).
//!
//! Kernel variants (`MatmulVariant::choose`, ops/matmul_variant.rs, picks one from the engine's
//! `MatmulKernel` and precision and the operands' layout):
//! - `matmul_tiles_nt`, `matmul_tiles_nn`, `matmul_tiles_tn` (matmul_tiles.wgsl): 128 x 128
//!   workgroup tiles, 8 x 8 per invocation, vec4 loads double-buffered through workgroup
//!   memory; `Tiles` (meant for GPUs, a candidate there until timed: `gpu::shipped`), by layout: A along K with B along K (nt) or N (nn), A along M
//!   with B along N (tn); any row stride that keeps vec4 loads aligned. `matmul_tiles_wide_*`
//!   (64 x 128) and `matmul_tiles_tall_*` (128 x 64) are the same kernel on narrow tiles, for
//!   products whose 128 x 128 grid has too few workgroups to fill a GPU (`MatmulVariant::tiles_for`).
//! - `matmul_nt`, `matmul_nn`, `matmul_nn_k4`, `matmul_tn` (matmul_vec4.wgsl): register blocks
//!   of 8 x 4 with vec4 loads, no workgroup memory; `Blocked` (the GPU rule's, and CPU drivers
//!   without 8-lane subgroups), by layout:
//!   both operands contiguous along K (nt), B along N with A along K (nn_k4), along M (tn) or
//!   strided (nn).
//! - `matmul_sg_nt`, `matmul_sg_nn`, `matmul_sg_tn` (matmul_subgroup.wgsl, over
//!   lib/matmul_subgroup_body.wgsl): the same layouts, 32 x 8 per invocation, A and B read
//!   from textures (`gpu::texture`) and A's values shared by the eight lanes of a subgroup;
//!   `Subgroup` (lavapipe), falling back to the Blocked kernels for other layouts and for
//!   operands no texture can hold.
//! - `matmul_tiles_f16_*` (matmul_tiles_f16.wgsl): the tiles with operands rounded to f16 in
//!   workgroup memory and f32 accumulation; `Precision::F16Mixed`, for every layout the tiles
//!   take whatever the kernel, except where `matmul_sg_f16_*` (matmul_subgroup_f16.wgsl, the
//!   subgroup kernels with operands rounded to f16 as loaded) take it under `Subgroup`.
//!   Layouts neither takes stay f32.
//! - `matmul_coop8`, `matmul_coop16` (matmul_coop8.wgsl, matmul_coop16.wgsl): cooperative
//!   matrices (tensor cores) of the largest size the adapter lists, f16 operands staged in
//!   workgroup memory, f32 accumulation, any strides: `Coop` (f16-mixed only), every layout.
//! - `matmul` (shaders/matmul.wgsl): 64 x 64 workgroup-memory tiles, any strides; the fallback
//!   of Tiles and Blocked for layouts no vec4 kernel takes, and `Strided` (tests).
//!
//! Weight gradients over many rows are split along K with a workgroup per row (`split_k`), the
//! chunks summed by `reduce::column_sum_once`; the GELU epilogues fuse an activation or its
//! gradient into the store.

use super::expect_len;
use super::matmul_variant::{Bindings, Strides, NARROW_TILE, SUBGROUP_COLS, SUBGROUP_ROWS, TILE, TILES_TILE};
pub use super::matmul_variant::{MatmulVariant, NARROW_BELOW_WORKGROUPS};
use crate::error::Result;
use crate::gpu::params::shader_params;
use crate::gpu::texture;
use crate::gpu::{grid_1d, Dispatch, Engine, GpuTensor};
pub use crate::reference::matmul::MatmulShape;

shader_params! {
    /// C[b] = alpha op(A)[b] op(B)[b] (+ bias) (+ C): element (m, k) of op(A)[b] at
    /// b a_bs + m a_rs + k a_cs (op(B) likewise), C dense with batch stride c_bs; `flags` FLAG_*.
    pub struct MatmulParams for ["matmul", "matmul_tiles", "matmul_tiles_wide", "matmul_tiles_tall", "matmul_tiles_f16", "matmul_vec4", "matmul_subgroup", "matmul_subgroup_f16", "matmul_coop8", "matmul_coop16"] {
        m: u32, n: u32, k: u32, batch: u32,
        a_rs: u32, a_cs: u32, a_bs: u32, b_rs: u32,
        b_cs: u32, b_bs: u32, c_bs: u32, flags: u32,
        alpha: f32, _pad0: u32, _pad1: u32, _pad2: u32,
    }
}

/// Bits of `MatmulParams::flags`, as lib/matmul_params.wgsl defines them.
pub const FLAG_BIAS: u32 = 1;
pub const FLAG_ACCUMULATE: u32 = 2;
pub const FLAG_SUM_BATCH: u32 = 4;
pub const FLAG_GELU: u32 = 8;
pub const FLAG_GELU_GRAD: u32 = 16;

/// The WGSL constants this launcher's flags and grids rely on: (shader file, name, value).
pub const SHADER_CONSTANTS: &[(&str, &str, u32)] = &[
    ("matmul", "FLAG_BIAS", FLAG_BIAS),
    ("matmul", "FLAG_ACCUMULATE", FLAG_ACCUMULATE),
    ("matmul", "FLAG_SUM_BATCH", FLAG_SUM_BATCH),
    ("matmul", "FLAG_GELU", FLAG_GELU),
    ("matmul", "FLAG_GELU_GRAD", FLAG_GELU_GRAD),
    ("matmul", "TILE_M", TILE),
    ("matmul", "TILE_N", TILE),
    ("matmul_tiles", "TILE_M", TILES_TILE),
    ("matmul_tiles", "TILE_N", TILES_TILE),
    ("matmul_tiles_wide", "TILE_M", NARROW_TILE),
    ("matmul_tiles_wide", "TILE_N", TILES_TILE),
    ("matmul_tiles_tall", "TILE_M", TILES_TILE),
    ("matmul_tiles_tall", "TILE_N", NARROW_TILE),
    ("matmul_tiles_f16", "TILE_M", TILES_TILE),
    ("matmul_tiles_f16", "TILE_N", TILES_TILE),
    ("matmul_subgroup", "WG_ROWS", SUBGROUP_ROWS),
    ("matmul_subgroup", "WG_COLS", SUBGROUP_COLS),
    ("matmul_subgroup", "TEXTURE_WIDTH", crate::gpu::texture::TEXTURE_WIDTH),
    ("matmul_subgroup_f16", "WG_ROWS", SUBGROUP_ROWS),
    ("matmul_subgroup_f16", "WG_COLS", SUBGROUP_COLS),
    ("matmul_subgroup_f16", "TEXTURE_WIDTH", crate::gpu::texture::TEXTURE_WIDTH),
];

/// An elementwise step fused into the matmul's store (lib/matmul_epilogue.wgsl).
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    None,
    /// C keeps the pre-activation (with bias) and `out` [like C] receives its GELU.
    Gelu {
        out: &'a GpuTensor,
    },
    /// C = (the product) * gelu'(pre), `pre` [like C] the GELU's saved input.
    GeluGrad {
        pre: &'a GpuTensor,
    },
}

impl<'a> Epilogue<'a> {
    fn flag_and_aux(self, e: &'a Engine) -> (u32, &'a GpuTensor) {
        match self {
            Self::None => (0, &e.kernels.dummy_rw),
            Self::Gelu { out } => (FLAG_GELU, out),
            Self::GeluGrad { pre } => (FLAG_GELU_GRAD, pre),
        }
    }
}

fn op_a(s: &MatmulShape) -> Strides {
    let bs = if s.broadcast_a { 0 } else { s.m * s.k };
    if s.trans_a {
        Strides { rs: 1, cs: s.m, bs }
    } else {
        Strides { rs: s.k, cs: 1, bs }
    }
}

fn op_b(s: &MatmulShape) -> Strides {
    let bs = if s.broadcast_b { 0 } else { s.k * s.n };
    if s.trans_b {
        Strides { rs: 1, cs: s.k, bs }
    } else {
        Strides { rs: s.n, cs: 1, bs }
    }
}

fn transpose(x: Strides) -> Strides {
    Strides { rs: x.cs, cs: x.rs, bs: x.bs }
}

/// C[batch or 1, m, n] = alpha * X Y (+ bias), X m x k, Y k x n given by strides.
#[allow(clippy::too_many_arguments)]
fn strided(
    e: &Engine,
    (x, xs): (&GpuTensor, Strides),
    (y, ys): (&GpuTensor, Strides),
    c: &GpuTensor,
    (batch, m, n, k): (usize, usize, usize, usize),
    bias: Option<&GpuTensor>,
    flags: u32,
    alpha: f32,
    epilogue: Epilogue,
) -> Result<Dispatch> {
    let (epilogue_flag, aux) = epilogue.flag_and_aux(e);
    if epilogue_flag != 0 {
        expect_len("matmul epilogue", aux, c.len())?;
        if flags & (FLAG_ACCUMULATE | FLAG_SUM_BATCH) != 0 {
            return Err(crate::error::shape_error("matmul", "a GELU epilogue cannot accumulate or sum over the batch"));
        }
    }
    let flags = flags | epilogue_flag | if bias.is_some() { FLAG_BIAS } else { 0 };
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        batch: batch as u32,
        a_rs: xs.rs as u32,
        a_cs: xs.cs as u32,
        a_bs: xs.bs as u32,
        b_rs: ys.rs as u32,
        b_cs: ys.cs as u32,
        b_bs: ys.bs as u32,
        c_bs: (m * n) as u32,
        flags,
        alpha,
        ..Default::default()
    };
    let z = if flags & FLAG_SUM_BATCH != 0 { 1 } else { batch as u32 };
    let bias = bias.unwrap_or(&e.kernels.dummy);
    let textures = texture::fits(&e.ctx, x) && texture::fits(&e.ctx, y);
    let coop = e.coop_matmul_size();
    let variant = MatmulVariant::choose((e.choice.matmul, e.choice.precision), xs, ys, (m, n, k, z), (textures, coop));
    let grid = match variant {
        MatmulVariant::Coop(size) => {
            // A subgroup per 2S x 2S block, at least 64 / (largest subgroup) subgroups per workgroup.
            let blocks = (n as u32).div_ceil(2 * size) as usize * (m as u32).div_ceil(2 * size) as usize;
            let per_workgroup = (64 / e.ctx.info.subgroup_max_size.clamp(1, 64)).max(1);
            let [gx, gy, _] = grid_1d(blocks, per_workgroup);
            [gx, gy, z]
        }
        _ => {
            let [gx, gy] = variant.block();
            [(n as u32).div_ceil(gx), (m as u32).div_ceil(gy), z]
        }
    };
    let entry = variant.entry();
    match variant.bindings() {
        Bindings::Plain => e.dispatch(entry, &params, &[x, y, bias, c, aux], grid),
        // The vec4 kernels bind A a second time as vec4.
        Bindings::Vec4 => e.dispatch(entry, &params, &[x, y, bias, c, x, aux], grid),
        // A as vec4 again, then A and B as textures.
        Bindings::Textures => e.dispatch(entry, &params, &[x, y, bias, c, x, aux, x, y], grid),
    }
}

/// Outputs per split-K product above which a weight gradient is not split further.
const SPLIT_TARGET_OUTPUTS: usize = 1 << 21;
/// Fewest rows of the reduction per split-K chunk.
const SPLIT_MIN_ROWS: usize = 128;
/// Most split-K chunks.
const SPLIT_MAX: usize = 16;

/// Chunks of the reduction (a divisor of k) for a product of m x n outputs on this engine: 1
/// unless it has scratch (GPUs) and the output alone gives too few workgroups to fill it.
pub fn split_k(e: &Engine, m: usize, n: usize, k: usize) -> usize {
    let Some([_, scratch]) = &e.scratch else { return 1 };
    let outputs = (m * n).max(1);
    let mut splits =
        SPLIT_TARGET_OUTPUTS.div_ceil(outputs).min(SPLIT_MAX).min(k / SPLIT_MIN_ROWS).min(scratch.len() / outputs);
    while splits > 1 && !k.is_multiple_of(splits) {
        splits -= 1;
    }
    splits.max(1)
}

/// A weight gradient C (m x n) = alpha X (m x k) Y (k x n), k running over the forward pass's
/// rows (large) and m x n over a weight (small). Split-K where `split_k` says so: the k rows in
/// S chunks computed as a batch of S products into `Engine::scratch[1]` [S, m, n], then added
/// in chunk order by column_sum (deterministic), for S times as many workgroups.
fn reduce_over_rows(
    e: &Engine,
    (x, xs): (&GpuTensor, Strides),
    (y, ys): (&GpuTensor, Strides),
    c: &GpuTensor,
    (batch, m, n, k): (usize, usize, usize, usize),
    flags: u32,
    alpha: f32,
) -> Result<Vec<Dispatch>> {
    let splits = if batch == 1 { split_k(e, m, n, k) } else { 1 };
    if let (Some([_, scratch]), true) = (&e.scratch, splits > 1) {
        let kc = k / splits;
        let part = scratch.view(&e.ctx, "split-K products", 0, &[splits, m, n])?;
        // Chunk b of X is columns [b kc, (b + 1) kc); of Y, rows [b kc, (b + 1) kc).
        let xs = Strides { bs: kc * xs.cs, ..xs };
        let ys = Strides { bs: kc * ys.rs, ..ys };
        let products = strided(e, (x, xs), (y, ys), &part, (splits, m, n, kc), None, 0, alpha, Epilogue::None)?;
        let sum = super::reduce::column_sum_once(e, &part, c, splits, m * n, flags & FLAG_ACCUMULATE != 0)?;
        return Ok(vec![products, sum]);
    }
    Ok(vec![strided(e, (x, xs), (y, ys), c, (batch, m, n, k), None, flags, alpha, Epilogue::None)?])
}

/// c = alpha * op(a) op(b) (+ bias[n]) (+ c when `accumulate`); c is [batch, m, n].
#[allow(clippy::too_many_arguments)]
pub fn forward(
    e: &Engine,
    s: &MatmulShape,
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    c: &GpuTensor,
    alpha: f32,
    accumulate: bool,
) -> Result<Dispatch> {
    forward_with(e, s, (a, b, bias), c, alpha, accumulate, Epilogue::None)
}

/// `forward` with an epilogue: c = alpha op(a) op(b) (+ bias) (+ c), then the epilogue.
pub fn forward_with(
    e: &Engine,
    s: &MatmulShape,
    (a, b, bias): (&GpuTensor, &GpuTensor, Option<&GpuTensor>),
    c: &GpuTensor,
    alpha: f32,
    accumulate: bool,
    epilogue: Epilogue,
) -> Result<Dispatch> {
    expect_len("matmul", a, s.a_len())?;
    expect_len("matmul", b, s.b_len())?;
    expect_len("matmul", c, s.c_len())?;
    if let Some(bias) = bias {
        expect_len("matmul", bias, s.n)?;
    }
    let flags = if accumulate { FLAG_ACCUMULATE } else { 0 };
    strided(e, (a, op_a(s)), (b, op_b(s)), c, (s.batch, s.m, s.n, s.k), bias, flags, alpha, epilogue)
}

/// The gradient of op(a) in a's layout through a GELU: da = (alpha dc op(b)^T) * gelu'(pre),
/// `pre` [like a] the GELU's input whose output was this matmul's `a` (written, not added).
pub fn backward_input_gelu(
    e: &Engine,
    s: &MatmulShape,
    b: &GpuTensor,
    dc: &GpuTensor,
    da: &GpuTensor,
    pre: &GpuTensor,
    alpha: f32,
) -> Result<Dispatch> {
    expect_len("matmul_backward", dc, s.c_len())?;
    expect_len("matmul_backward", b, s.b_len())?;
    expect_len("matmul_backward", da, s.a_len())?;
    if s.trans_a || s.broadcast_a {
        return Err(crate::error::shape_error(
            "matmul_backward",
            "a GELU gradient needs a plain (not transposed or broadcast) A",
        ));
    }
    let dcs = Strides { rs: s.n, cs: 1, bs: s.m * s.n };
    let dims = (s.batch, s.m, s.k, s.n);
    strided(e, (dc, dcs), (b, transpose(op_b(s))), da, dims, None, 0, alpha, Epilogue::GeluGrad { pre })
}

/// Gradients of c = alpha op(a) op(b) + bias: da and db in a's and b's storage layouts
/// (summed over the batch for a broadcast operand), dbias the column sums of dc.
/// Each is written, or added to with `accumulate`. Returns the dispatches in order.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    e: &Engine,
    s: &MatmulShape,
    a: &GpuTensor,
    b: &GpuTensor,
    dc: &GpuTensor,
    da: Option<&GpuTensor>,
    db: Option<&GpuTensor>,
    dbias: Option<&GpuTensor>,
    alpha: f32,
    accumulate: bool,
) -> Result<Vec<Dispatch>> {
    expect_len("matmul_backward", dc, s.c_len())?;
    let acc = if accumulate { FLAG_ACCUMULATE } else { 0 };
    let dcs = Strides { rs: s.n, cs: 1, bs: s.m * s.n };
    let mut out = Vec::new();
    if let Some(da) = da {
        expect_len("matmul_backward", da, s.a_len())?;
        let flags = acc | if s.broadcast_a && s.batch > 1 { FLAG_SUM_BATCH } else { 0 };
        out.push(if !s.trans_a {
            // dA (m x k) = dC (m x n) op(B)^T (n x k)
            strided(
                e,
                (dc, dcs),
                (b, transpose(op_b(s))),
                da,
                (s.batch, s.m, s.k, s.n),
                None,
                flags,
                alpha,
                Epilogue::None,
            )?
        } else {
            // dA stored k x m = op(B) (k x n) dC^T (n x m)
            strided(
                e,
                (b, op_b(s)),
                (dc, transpose(dcs)),
                da,
                (s.batch, s.k, s.m, s.n),
                None,
                flags,
                alpha,
                Epilogue::None,
            )?
        });
    }
    if let Some(db) = db {
        expect_len("matmul_backward", db, s.b_len())?;
        let flags = acc | if s.broadcast_b && s.batch > 1 { FLAG_SUM_BATCH } else { 0 };
        out.extend(if !s.trans_b {
            // dB (k x n) = op(A)^T (k x m) dC (m x n)
            reduce_over_rows(e, (a, transpose(op_a(s))), (dc, dcs), db, (s.batch, s.k, s.n, s.m), flags, alpha)?
        } else {
            // dB stored n x k = dC^T (n x m) op(A) (m x k)
            reduce_over_rows(e, (dc, transpose(dcs)), (a, op_a(s)), db, (s.batch, s.n, s.k, s.m), flags, alpha)?
        });
    }
    if let Some(dbias) = dbias {
        out.extend(super::reduce::column_sum(e, dc, dbias, s.batch * s.m, s.n, accumulate)?);
    }
    Ok(out)
}
