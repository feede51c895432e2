//! The ViT backbone on the GPU for one group of views (global views with their query
//! tokens, or local crops): buffers planned once, forward and backward recorded as
//! dispatch lists built once.

use crate::error::{Error, Result};
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor};
use crate::ops::attention::{self, AttentionShape};
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::residual::{self, SampleScale};
use crate::ops::tokens::{self, TokenShape};
use crate::ops::{elementwise, gelu, layernorm};
use crate::spec::config::AdclrConfig;
use std::collections::HashMap;

/// Named views of one flat parameter (or gradient) set.
pub type ParamViews = HashMap<String, GpuTensor>;

pub(crate) fn view<'a>(v: &'a ParamViews, name: &str) -> Result<&'a GpuTensor> {
    v.get(name).ok_or_else(|| Error::Gpu(format!("no parameter view `{name}`")))
}

/// A linear layer's matmul shape: x [rows, in] times W [out, in] transposed.
pub fn linear_shape(rows: usize, inp: usize, out: usize) -> MatmulShape {
    let mut s = MatmulShape::new(1, rows, out, inp);
    s.trans_b = true;
    s
}

/// y = x W^T + b.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    e: &Engine,
    x: &GpuTensor,
    w: &GpuTensor,
    b: Option<&GpuTensor>,
    y: &GpuTensor,
    rows: usize,
    inp: usize,
    out: usize,
) -> Result<Dispatch> {
    matmul::forward(e, &linear_shape(rows, inp, out), x, w, b, y, 1.0, false)
}

/// pre = x W^T + b and out = GELU(pre), fused into the matmul's store.
#[allow(clippy::too_many_arguments)]
pub fn linear_gelu(
    e: &Engine,
    x: &GpuTensor,
    w: &GpuTensor,
    b: Option<&GpuTensor>,
    (pre, out): (&GpuTensor, &GpuTensor),
    rows: usize,
    inp: usize,
    outdim: usize,
) -> Result<Dispatch> {
    let s = linear_shape(rows, inp, outdim);
    matmul::forward_with(e, &s, (x, w, b), pre, 1.0, false, matmul::Epilogue::Gelu { out })
}

/// Backward of y = GELU(pre_x) W^T + b where x = GELU(pre_x) (recomputed): d_pre =
/// (dy W) * gelu'(pre_x) (overwritten), dW += dy^T x, db += colsum(dy).
#[allow(clippy::too_many_arguments)]
pub fn linear_backward_through_gelu(
    e: &Engine,
    (x, pre_x): (&GpuTensor, &GpuTensor),
    w: &GpuTensor,
    dy: &GpuTensor,
    d_pre: &GpuTensor,
    dw: &GpuTensor,
    db: Option<&GpuTensor>,
    rows: usize,
    inp: usize,
    out: usize,
) -> Result<Vec<Dispatch>> {
    let s = linear_shape(rows, inp, out);
    let mut d = vec![matmul::backward_input_gelu(e, &s, w, dy, d_pre, pre_x, 1.0)?];
    d.extend(linear_backward(e, x, w, dy, None, dw, db, rows, inp, out)?);
    Ok(d)
}

/// dx = dy W (overwritten; skipped when None); dW += dy^T x; db += colsum(dy).
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    e: &Engine,
    x: &GpuTensor,
    w: &GpuTensor,
    dy: &GpuTensor,
    dx: Option<&GpuTensor>,
    dw: &GpuTensor,
    db: Option<&GpuTensor>,
    rows: usize,
    inp: usize,
    out: usize,
) -> Result<Vec<Dispatch>> {
    let s = linear_shape(rows, inp, out);
    let mut d = Vec::new();
    if let Some(dx) = dx {
        d.extend(matmul::backward(e, &s, x, w, dy, Some(dx), None, None, 1.0, false)?);
    }
    d.extend(matmul::backward(e, &s, x, w, dy, None, Some(dw), db, 1.0, true)?);
    Ok(d)
}

/// Saved activations of one block (rows R = images * tokens). The LayerNorm outputs and the
/// GELU output are not kept: backward recomputes them from the saved inputs and statistics
/// into the group's shared scratch, which saves 6 of every 16 values per token and block.
pub struct BlockActs {
    /// [R] statistics of the first LayerNorm.
    pub mean1: GpuTensor,
    pub rstd1: GpuTensor,
    /// [R, 3D]
    pub qkv: GpuTensor,
    /// [R, D] attention output (heads concatenated), [images, heads, T] logsumexp.
    pub attn: GpuTensor,
    pub lse: GpuTensor,
    /// [R, D] residual stream after the attention branch.
    pub x_mid: GpuTensor,
    pub mean2: GpuTensor,
    pub rstd2: GpuTensor,
    /// [R, 4D] fc1 output before GELU.
    pub h: GpuTensor,
}

/// Gradient scratch of a trained group.
pub struct GroupGrads {
    /// [R, D] gradient at the final norm's output (zero but for the head's rows).
    pub d_normed: GpuTensor,
    /// [R, D] residual-stream gradient, updated in place through the blocks.
    pub d_x: GpuTensor,
    pub d_branch: GpuTensor,
    pub d_y: GpuTensor,
    pub d_attn: GpuTensor,
    /// [R, 3D]
    pub d_qkv: GpuTensor,
    /// [R, 4D] gradient at fc1's output, through the GELU (fused into fc2's input-gradient
    /// matmul).
    pub d_hidden: GpuTensor,
    /// [images * N, D], [images * Q, D]
    pub d_patch: GpuTensor,
    pub d_query: GpuTensor,
    /// [1 + N, D] positional gradient of a resized group (zeroed, then mapped back).
    pub d_pos: Option<GpuTensor>,
}

/// One group's buffers.
pub struct Group {
    pub shape: TokenShape,
    pub attention: AttentionShape,
    /// Inputs written by the host: [images * N, CPP], [images * Q, CPP].
    pub patch_rows: GpuTensor,
    pub query_rows: GpuTensor,
    /// [depth * 2 * images] drop-path scales.
    pub drop: GpuTensor,
    /// [1 + N, D] positional table of a resized group.
    pub pos: Option<GpuTensor>,
    pub patch_proj: GpuTensor,
    pub query_proj: GpuTensor,
    /// Residual stream at each block's input, then the last block's output: depth + 1
    /// tensors when training, one shared tensor for inference.
    pub xs: Vec<GpuTensor>,
    /// depth blocks when training, one shared set for inference.
    pub blocks: Vec<BlockActs>,
    /// [R, D] a branch's output before the residual add.
    pub branch: GpuTensor,
    /// [R, D] a LayerNorm's output and [R, 4D] the GELU's, shared by all blocks.
    pub ln_out: GpuTensor,
    pub gelu_out: GpuTensor,
    pub normed: GpuTensor,
    pub mean_f: GpuTensor,
    pub rstd_f: GpuTensor,
    pub grads: Option<GroupGrads>,
}

pub struct GroupSpec<'a> {
    pub name: &'a str,
    pub images: usize,
    pub side: usize,
    pub queries: usize,
    pub training: bool,
    /// Keep every block's output even without training (probe features).
    pub keep_blocks: bool,
    /// Share these input tensors (the teacher sees the student's views).
    /// The teacher's group: read the student's views and run its inference in the student's
    /// gradient and scratch buffers, which are free during the forward phase (saves 17
    /// values per token). Needs a trained student group of the same shape.
    pub share: Option<&'a Group>,
}

impl Group {
    pub fn new(al: &mut Alloc, a: &AdclrConfig, spec: &GroupSpec) -> Result<Self> {
        let c = &a.model;
        let (d, n, q, imgs) = (c.dim, c.patches(spec.side), spec.queries, spec.images);
        let shape = TokenShape { images: imgs, patches: n, queries: q, dim: d };
        let rows = imgs * shape.tokens();
        let name = spec.name;
        let t = |al: &mut Alloc, what: &str, shp: &[usize]| al.tensor(&format!("{name}.{what}"), shp);
        // Buffers borrowed from the student (inference in its free gradient space).
        let lend = spec.share.filter(|g| !spec.training && !spec.keep_blocks && g.shape == shape);
        let lent = lend.and_then(|g| g.grads.as_ref().map(|gr| (g, gr)));
        let pick = |al: &mut Alloc, borrowed: Option<&GpuTensor>, what: &str, shp: &[usize]| match borrowed {
            Some(b) => Ok(b.clone()),
            None => al.tensor(&format!("{name}.{what}"), shp),
        };
        let (patch_rows, query_rows) = match spec.share {
            Some(g) => (g.patch_rows.clone(), g.query_rows.clone()),
            None => (
                t(al, "patch_rows", &[imgs * n, c.patch_len()])?,
                t(al, "query_rows", &[imgs * q.max(1), c.patch_len()])?,
            ),
        };
        let resized = spec.side != c.image_size;
        let keep = spec.training || spec.keep_blocks;
        let n_sets = if keep { c.depth } else { 1 };
        let mut blocks = Vec::with_capacity(n_sets);
        for l in 0..n_sets {
            let b = |al: &mut Alloc, what: &str, shp: &[usize]| al.tensor(&format!("{name}.blocks.{l}.{what}"), shp);
            blocks.push(BlockActs {
                mean1: b(al, "mean1", &[rows])?,
                rstd1: b(al, "rstd1", &[rows])?,
                qkv: pick(al, lent.map(|l| &l.1.d_qkv), &format!("blocks.{l}.qkv"), &[rows, 3 * d])?,
                attn: pick(al, lent.map(|l| &l.1.d_attn), &format!("blocks.{l}.attn"), &[rows, d])?,
                lse: b(al, "lse", &[imgs, c.heads, shape.tokens()])?,
                x_mid: pick(al, lent.map(|l| &l.1.d_branch), &format!("blocks.{l}.x_mid"), &[rows, d])?,
                mean2: b(al, "mean2", &[rows])?,
                rstd2: b(al, "rstd2", &[rows])?,
                h: pick(al, lent.map(|l| &l.1.d_hidden), &format!("blocks.{l}.h"), &[rows, c.hidden()])?,
            });
        }
        let xs = if keep {
            (0..=c.depth).map(|l| t(al, &format!("x{l}"), &[rows, d])).collect::<Result<Vec<_>>>()?
        } else {
            vec![pick(al, lent.map(|l| &l.1.d_x), "x", &[rows, d])?]
        };
        let grads = if spec.training {
            Some(GroupGrads {
                d_normed: t(al, "d_normed", &[rows, d])?,
                d_x: t(al, "d_x", &[rows, d])?,
                d_branch: t(al, "d_branch", &[rows, d])?,
                d_y: t(al, "d_y", &[rows, d])?,
                d_attn: t(al, "d_attn", &[rows, d])?,
                d_qkv: t(al, "d_qkv", &[rows, 3 * d])?,
                d_hidden: t(al, "d_hidden", &[rows, c.hidden()])?,
                d_patch: t(al, "d_patch", &[imgs * n, d])?,
                d_query: t(al, "d_query", &[imgs * q.max(1), d])?,
                d_pos: if resized { Some(t(al, "d_pos", &[1 + n, d])?) } else { None },
            })
        } else {
            None
        };
        Ok(Self {
            shape,
            attention: AttentionShape {
                batch: imgs,
                tokens: shape.tokens(),
                heads: c.heads,
                head_dim: c.head_dim(),
                n_base: 1 + n,
                query_attends: a.query_attends,
                bidirectional: a.bidirectional,
            },
            patch_rows,
            query_rows,
            drop: t(al, "drop", &[c.depth * 2 * imgs])?,
            pos: if resized { Some(t(al, "pos", &[1 + n, d])?) } else { None },
            patch_proj: t(al, "patch_proj", &[imgs * n, d])?,
            query_proj: t(al, "query_proj", &[imgs * q.max(1), d])?,
            xs,
            blocks,
            branch: pick(al, lent.map(|l| &l.1.d_y), "branch", &[rows, d])?,
            ln_out: pick(al, lent.map(|l| &l.0.ln_out), "ln_out", &[rows, d])?,
            gelu_out: pick(al, lent.map(|l| &l.0.gelu_out), "gelu_out", &[rows, c.hidden()])?,
            normed: pick(al, lent.map(|l| &l.1.d_normed), "normed", &[rows, d])?,
            mean_f: t(al, "mean_f", &[rows])?,
            rstd_f: t(al, "rstd_f", &[rows])?,
            grads,
        })
    }

    pub fn rows(&self) -> usize {
        self.shape.images * self.shape.tokens()
    }

    fn x(&self, l: usize) -> &GpuTensor {
        &self.xs[l.min(self.xs.len() - 1)]
    }

    fn acts(&self, l: usize) -> &BlockActs {
        &self.blocks[l.min(self.blocks.len() - 1)]
    }

    fn scale(&self, l: usize, branch: usize) -> SampleScale<'_> {
        SampleScale { scale: &self.drop, offset: (l * 2 + branch) * self.shape.images }
    }

    /// Forward through the backbone with parameters `p`. `pos_resize` ([1+N, 1+N_native])
    /// maps the positional table for a resized group.
    pub fn forward(
        &self,
        e: &Engine,
        a: &AdclrConfig,
        p: &ParamViews,
        pos_resize: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        let c = &a.model;
        let (d, cpp, s) = (c.dim, c.patch_len(), &self.shape);
        let rows = self.rows();
        let mut out = Vec::new();
        let pos = match (&self.pos, pos_resize) {
            (Some(pos), Some(m)) => {
                let n_native = 1 + c.patches(c.image_size);
                let ms = MatmulShape::new(1, 1 + s.patches, d, n_native);
                out.push(matmul::forward(e, &ms, m, view(p, "pos_embed")?, None, pos, 1.0, false)?);
                pos
            }
            _ => view(p, "pos_embed")?,
        };
        let (w_pe, b_pe) = (view(p, "patch_embed.proj.weight")?, view(p, "patch_embed.proj.bias")?);
        out.push(linear(e, &self.patch_rows, w_pe, Some(b_pe), &self.patch_proj, s.images * s.patches, cpp, d)?);
        if s.queries > 0 {
            out.push(linear(e, &self.query_rows, w_pe, Some(b_pe), &self.query_proj, s.images * s.queries, cpp, d)?);
        }
        out.push(tokens::assemble(e, s, view(p, "cls_token")?, pos, &self.patch_proj, &self.query_proj, self.x(0))?);
        let t_n = s.tokens();
        let eps = c.ln_eps as f32;
        let (y, g) = (&self.ln_out, &self.gelu_out);
        // The LayerNorm after each residual add: a block's norm1 / norm2, or the final norm.
        let block_norm = |l: usize, which: &str| -> Result<residual::NextNorm> {
            let b = self.acts(l);
            let (mean, rstd) = if which == "norm1" { (&b.mean1, &b.rstd1) } else { (&b.mean2, &b.rstd2) };
            Ok(residual::NextNorm {
                w: view(p, &format!("blocks.{l}.{which}.weight"))?,
                b: view(p, &format!("blocks.{l}.{which}.bias"))?,
                eps,
                y,
                mean,
                rstd,
            })
        };
        let final_norm = residual::NextNorm {
            w: view(p, "norm.weight")?,
            b: view(p, "norm.bias")?,
            eps,
            y: &self.normed,
            mean: &self.mean_f,
            rstd: &self.rstd_f,
        };
        let first = if c.depth > 0 { block_norm(0, "norm1")? } else { final_norm };
        out.push(layernorm::forward(e, self.x(0), first.w, first.b, first.y, first.mean, first.rstd, eps)?);
        for l in 0..c.depth {
            let w = |n: &str| view(p, &format!("blocks.{l}.{n}"));
            let (x, b) = (self.x(l), self.acts(l));
            // y holds LN1(x) here (from the previous residual add, or above for block 0).
            out.push(linear(e, y, w("attn.qkv.weight")?, Some(w("attn.qkv.bias")?), &b.qkv, rows, d, 3 * d)?);
            out.push(attention::forward(e, &self.attention, &b.qkv, &b.attn, &b.lse)?);
            out.push(linear(e, &b.attn, w("attn.proj.weight")?, Some(w("attn.proj.bias")?), &self.branch, rows, d, d)?);
            let norm2 = block_norm(l, "norm2")?;
            out.extend(residual::add_then_layernorm(e, x, &self.branch, self.scale(l, 0), &b.x_mid, d, t_n, norm2)?);
            let (fc1_w, fc1_b) = (w("mlp.fc1.weight")?, Some(w("mlp.fc1.bias")?));
            out.push(linear_gelu(e, y, fc1_w, fc1_b, (&b.h, g), rows, d, c.hidden())?);
            out.push(linear(e, g, w("mlp.fc2.weight")?, Some(w("mlp.fc2.bias")?), &self.branch, rows, c.hidden(), d)?);
            let next = if l + 1 < c.depth { block_norm(l + 1, "norm1")? } else { final_norm };
            let x_next = self.x(l + 1);
            out.extend(residual::add_then_layernorm(
                e,
                &b.x_mid,
                &self.branch,
                self.scale(l, 1),
                x_next,
                d,
                t_n,
                next,
            )?);
        }
        Ok(out)
    }

    /// Backward from `grads.d_normed`, adding every parameter gradient into `g`.
    pub fn backward(
        &self,
        e: &Engine,
        a: &AdclrConfig,
        p: &ParamViews,
        g: &ParamViews,
        pos_resize: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        let c = &a.model;
        let gr = self.grads.as_ref().ok_or_else(|| Error::Gpu("backward through an inference group".into()))?;
        let (d, cpp, s) = (c.dim, c.patch_len(), &self.shape);
        let (rows, t_n) = (self.rows(), s.tokens());
        let mut out = vec![elementwise::fill(e, &gr.d_x, 0.0)?];
        out.extend(layernorm::backward(
            e,
            self.x(c.depth),
            view(p, "norm.weight")?,
            &self.mean_f,
            &self.rstd_f,
            &gr.d_normed,
            &gr.d_x,
            view(g, "norm.weight")?,
            view(g, "norm.bias")?,
            true,
        )?);
        for l in (0..c.depth).rev() {
            let w = |n: &str| view(p, &format!("blocks.{l}.{n}"));
            let gw = |n: &str| view(g, &format!("blocks.{l}.{n}"));
            let b = self.acts(l);
            let (y, g, eps) = (&self.ln_out, &self.gelu_out, c.ln_eps as f32);
            // Recompute LN2's and the GELU's outputs (same kernels, same values as forward).
            let (n2w, n2b) = (w("norm2.weight")?, w("norm2.bias")?);
            out.push(layernorm::forward(e, &b.x_mid, n2w, n2b, y, &b.mean2, &b.rstd2, eps)?);
            out.push(gelu::forward(e, &b.h, g)?);
            out.push(residual::branch_grad(e, &gr.d_x, self.scale(l, 1), &gr.d_branch, d, t_n)?);
            // d_hidden = the gradient at fc1's output (through the GELU).
            out.extend(linear_backward_through_gelu(
                e,
                (g, &b.h),
                w("mlp.fc2.weight")?,
                &gr.d_branch,
                &gr.d_hidden,
                gw("mlp.fc2.weight")?,
                Some(gw("mlp.fc2.bias")?),
                rows,
                c.hidden(),
                d,
            )?);
            out.extend(linear_backward(
                e,
                y,
                w("mlp.fc1.weight")?,
                &gr.d_hidden,
                Some(&gr.d_y),
                gw("mlp.fc1.weight")?,
                Some(gw("mlp.fc1.bias")?),
                rows,
                d,
                c.hidden(),
            )?);
            out.extend(layernorm::backward(
                e,
                &b.x_mid,
                w("norm2.weight")?,
                &b.mean2,
                &b.rstd2,
                &gr.d_y,
                &gr.d_x,
                gw("norm2.weight")?,
                gw("norm2.bias")?,
                true,
            )?);
            out.push(residual::branch_grad(e, &gr.d_x, self.scale(l, 0), &gr.d_branch, d, t_n)?);
            out.extend(linear_backward(
                e,
                &b.attn,
                w("attn.proj.weight")?,
                &gr.d_branch,
                Some(&gr.d_attn),
                gw("attn.proj.weight")?,
                Some(gw("attn.proj.bias")?),
                rows,
                d,
                d,
            )?);
            out.extend(attention::backward(e, &self.attention, &b.qkv, &b.attn, &b.lse, &gr.d_attn, &gr.d_qkv)?);
            // Recompute LN1's output for the qkv weight gradient.
            let (n1w, n1b) = (w("norm1.weight")?, w("norm1.bias")?);
            out.push(layernorm::forward(e, self.x(l), n1w, n1b, y, &b.mean1, &b.rstd1, eps)?);
            out.extend(linear_backward(
                e,
                y,
                w("attn.qkv.weight")?,
                &gr.d_qkv,
                Some(&gr.d_y),
                gw("attn.qkv.weight")?,
                Some(gw("attn.qkv.bias")?),
                rows,
                d,
                3 * d,
            )?);
            out.extend(layernorm::backward(
                e,
                self.x(l),
                w("norm1.weight")?,
                &b.mean1,
                &b.rstd1,
                &gr.d_y,
                &gr.d_x,
                gw("norm1.weight")?,
                gw("norm1.bias")?,
                true,
            )?);
        }
        let dpos = match &gr.d_pos {
            Some(dp) => {
                out.push(elementwise::fill(e, dp, 0.0)?);
                dp
            }
            None => view(g, "pos_embed")?,
        };
        out.extend(tokens::backward(e, s, &gr.d_x, &gr.d_patch, &gr.d_query, view(g, "cls_token")?, dpos, true)?);
        if let (Some(dp), Some(m)) = (&gr.d_pos, pos_resize) {
            let n_native = 1 + c.patches(c.image_size);
            let ms = MatmulShape::new(1, 1 + s.patches, d, n_native);
            out.extend(matmul::backward(
                e,
                &ms,
                m,
                view(p, "pos_embed")?,
                dp,
                None,
                Some(view(g, "pos_embed")?),
                None,
                1.0,
                true,
            )?);
        }
        let (w_pe, gw_pe, gb_pe) = (
            view(p, "patch_embed.proj.weight")?,
            view(g, "patch_embed.proj.weight")?,
            view(g, "patch_embed.proj.bias")?,
        );
        out.extend(linear_backward(
            e,
            &self.patch_rows,
            w_pe,
            &gr.d_patch,
            None,
            gw_pe,
            Some(gb_pe),
            s.images * s.patches,
            cpp,
            d,
        )?);
        if s.queries > 0 {
            out.extend(linear_backward(
                e,
                &self.query_rows,
                w_pe,
                &gr.d_query,
                None,
                gw_pe,
                Some(gb_pe),
                s.images * s.queries,
                cpp,
                d,
            )?);
        }
        Ok(out)
    }
}
