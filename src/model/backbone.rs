//! The ViT backbone on the GPU for one group of views (global views with their query
//! tokens, or local crops): buffers planned once, forward and backward recorded as
//! dispatch lists built once.

use super::params::BackboneParams;
use crate::error::{Error, Result};
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor};
use crate::ops::attention::{self, AttentionShape};
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::residual::{self, SampleScale};
use crate::ops::tokens::{self, TokenShape};
use crate::ops::{elementwise, gelu, layernorm, linear};
use crate::spec::config::{AdclrConfig, ModelConfig};

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

impl GroupGrads {
    /// The gradient buffers of a training group of `shape` named `name`.
    fn new(al: &mut Alloc, name: &str, c: &ModelConfig, shape: &TokenShape, resized: bool) -> Result<Self> {
        let (d, n, q, imgs) = (c.dim, shape.patches, shape.queries, shape.images);
        let rows = imgs * shape.tokens();
        let mut t = |what: &str, shp: &[usize]| al.tensor(&format!("{name}.{what}"), shp);
        Ok(Self {
            d_normed: t("d_normed", &[rows, d])?,
            d_x: t("d_x", &[rows, d])?,
            d_branch: t("d_branch", &[rows, d])?,
            d_y: t("d_y", &[rows, d])?,
            d_attn: t("d_attn", &[rows, d])?,
            d_qkv: t("d_qkv", &[rows, 3 * d])?,
            d_hidden: t("d_hidden", &[rows, c.hidden()])?,
            d_patch: t("d_patch", &[imgs * n, d])?,
            d_query: t("d_query", &[imgs * q.max(1), d])?,
            d_pos: if resized { Some(t("d_pos", &[1 + n, d])?) } else { None },
        })
    }
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
        let grads = if spec.training { Some(GroupGrads::new(al, name, c, &shape, resized)?) } else { None };
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
        p: &BackboneParams,
        pos_resize: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        let c = &a.model;
        let (d, s, rows) = (c.dim, &self.shape, self.rows());
        let mut out = Vec::new();
        let pos = match (&self.pos, pos_resize) {
            (Some(pos), Some(m)) => {
                let ms = MatmulShape::new(1, 1 + s.patches, d, 1 + c.patches(c.image_size));
                out.push(matmul::forward(e, &ms, m, &p.embed.pos_embed, None, pos, 1.0, false)?);
                pos
            }
            _ => &p.embed.pos_embed,
        };
        out.push(linear::forward(e, &self.patch_rows, &p.embed.patch, &self.patch_proj, s.images * s.patches)?);
        if s.queries > 0 {
            out.push(linear::forward(e, &self.query_rows, &p.embed.patch, &self.query_proj, s.images * s.queries)?);
        }
        out.push(tokens::assemble(e, s, &p.embed.cls_token, pos, &self.patch_proj, &self.query_proj, self.x(0))?);
        let (t_n, eps) = (s.tokens(), c.ln_eps as f32);
        let (y, g) = (&self.ln_out, &self.gelu_out);
        // The LayerNorm after each residual add: a block's norm1 / norm2, or the final norm.
        let block_norm = |l: usize, second: bool| {
            let (b, w) = (self.acts(l), &p.blocks[l]);
            let (n, mean, rstd) = if second { (&w.norm2, &b.mean2, &b.rstd2) } else { (&w.norm1, &b.mean1, &b.rstd1) };
            residual::NextNorm { w: &n.weight, b: &n.bias, eps, y, mean, rstd }
        };
        let (normed, mean, rstd) = (&self.normed, &self.mean_f, &self.rstd_f);
        let final_norm = residual::NextNorm { w: &p.norm.weight, b: &p.norm.bias, eps, y: normed, mean, rstd };
        let first = if c.depth > 0 { block_norm(0, false) } else { final_norm };
        out.push(layernorm::forward(e, self.x(0), first.w, first.b, first.y, first.mean, first.rstd, eps)?);
        for (l, w) in p.blocks.iter().enumerate() {
            let (x, b) = (self.x(l), self.acts(l));
            // y holds LN1(x) here (from the previous residual add, or above for block 0).
            out.push(linear::forward(e, y, &w.qkv, &b.qkv, rows)?);
            out.push(attention::forward(e, &self.attention, &b.qkv, &b.attn, &b.lse)?);
            out.push(linear::forward(e, &b.attn, &w.proj, &self.branch, rows)?);
            let norm2 = block_norm(l, true);
            out.extend(residual::add_then_layernorm(e, x, &self.branch, self.scale(l, 0), &b.x_mid, d, t_n, norm2)?);
            out.push(linear::forward_gelu(e, y, &w.fc1, (&b.h, g), rows)?);
            out.push(linear::forward(e, g, &w.fc2, &self.branch, rows)?);
            let next = if l + 1 < c.depth { block_norm(l + 1, false) } else { final_norm };
            let (x_next, scale) = (self.x(l + 1), self.scale(l, 1));
            out.extend(residual::add_then_layernorm(e, &b.x_mid, &self.branch, scale, x_next, d, t_n, next)?);
        }
        Ok(out)
    }

    /// Backward from `grads.d_normed`, adding every parameter gradient into `g`.
    pub fn backward(
        &self,
        e: &Engine,
        a: &AdclrConfig,
        p: &BackboneParams,
        g: &BackboneParams,
        pos_resize: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        let c = &a.model;
        let gr = self.grads.as_ref().ok_or_else(|| Error::Gpu("backward through an inference group".into()))?;
        let (d, rows, t_n) = (c.dim, self.rows(), self.shape.tokens());
        let (y, h_act, eps) = (&self.ln_out, &self.gelu_out, c.ln_eps as f32);
        let mut out = vec![elementwise::fill(e, &gr.d_x, 0.0)?];
        let (final_stats, d_final) = ((&self.mean_f, &self.rstd_f), (&gr.d_normed, &gr.d_x));
        out.extend(layernorm::backward_norm(e, self.x(c.depth), &p.norm, final_stats, d_final, &g.norm, true)?);
        for l in (0..c.depth).rev() {
            let (w, gw, b) = (&p.blocks[l], &g.blocks[l], self.acts(l));
            let (stats1, stats2, d_ln) = ((&b.mean1, &b.rstd1), (&b.mean2, &b.rstd2), (&gr.d_y, &gr.d_x));
            // MLP branch. Recompute LN2's and the GELU's outputs (same kernels, same values).
            out.push(layernorm::forward_norm(e, &b.x_mid, &w.norm2, y, stats2, eps)?);
            out.push(gelu::forward(e, &b.h, h_act)?);
            out.push(residual::branch_grad(e, &gr.d_x, self.scale(l, 1), &gr.d_branch, d, t_n)?);
            let (d_branch, d_hidden) = (&gr.d_branch, &gr.d_hidden);
            out.extend(linear::backward_through_gelu(e, (h_act, &b.h), &w.fc2, d_branch, d_hidden, &gw.fc2, rows)?);
            out.extend(linear::backward(e, y, &w.fc1, &gr.d_hidden, Some(&gr.d_y), &gw.fc1, rows)?);
            out.extend(layernorm::backward_norm(e, &b.x_mid, &w.norm2, stats2, d_ln, &gw.norm2, true)?);
            // Attention branch. Recompute LN1's output for the qkv weight gradient.
            out.push(residual::branch_grad(e, &gr.d_x, self.scale(l, 0), &gr.d_branch, d, t_n)?);
            out.extend(linear::backward(e, &b.attn, &w.proj, &gr.d_branch, Some(&gr.d_attn), &gw.proj, rows)?);
            out.extend(attention::backward(e, &self.attention, &b.qkv, &b.attn, &b.lse, &gr.d_attn, &gr.d_qkv)?);
            out.push(layernorm::forward_norm(e, self.x(l), &w.norm1, y, stats1, eps)?);
            out.extend(linear::backward(e, y, &w.qkv, &gr.d_qkv, Some(&gr.d_y), &gw.qkv, rows)?);
            out.extend(layernorm::backward_norm(e, self.x(l), &w.norm1, stats1, d_ln, &gw.norm1, true)?);
        }
        out.extend(self.embed_backward(e, c, p, g, pos_resize)?);
        Ok(out)
    }

    /// Backward of the embeddings: tokens into the CLS and position gradients (through the
    /// position resize for local views), patches and query crops into the patch embedding.
    fn embed_backward(
        &self,
        e: &Engine,
        c: &crate::spec::config::ModelConfig,
        p: &BackboneParams,
        g: &BackboneParams,
        pos_resize: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        let gr = self.grads.as_ref().ok_or_else(|| Error::Gpu("backward through an inference group".into()))?;
        let s = &self.shape;
        let mut out = Vec::new();
        let dpos = match &gr.d_pos {
            Some(dp) => {
                out.push(elementwise::fill(e, dp, 0.0)?);
                dp
            }
            None => &g.embed.pos_embed,
        };
        out.extend(tokens::backward(e, s, &gr.d_x, &gr.d_patch, &gr.d_query, &g.embed.cls_token, dpos, true)?);
        if let (Some(dp), Some(m)) = (&gr.d_pos, pos_resize) {
            let ms = MatmulShape::new(1, 1 + s.patches, c.dim, 1 + c.patches(c.image_size));
            let (pos, d_pos) = (&p.embed.pos_embed, Some(&g.embed.pos_embed));
            out.extend(matmul::backward(e, &ms, m, pos, dp, None, d_pos, None, 1.0, true)?);
        }
        let (patch, d_patch) = (&p.embed.patch, &g.embed.patch);
        out.extend(linear::backward(e, &self.patch_rows, patch, &gr.d_patch, None, d_patch, s.images * s.patches)?);
        if s.queries > 0 {
            let n = s.images * s.queries;
            out.extend(linear::backward(e, &self.query_rows, patch, &gr.d_query, None, d_patch, n)?);
        }
        Ok(out)
    }
}
