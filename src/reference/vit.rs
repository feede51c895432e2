//! The ViT backbone and the DINO head on the CPU in f64, forward and backward, composed from
//! the reference ops, with parameters and gradients by timm name. `step` builds the whole
//! ADCLR step from them.

use super::attention::AttentionShape;
use super::linear;
use super::matmul::MatmulShape;
use super::tokens::TokenShape;
use super::{attention, gelu, l2norm, layernorm, matmul, residual, tokens, weight_norm};
use crate::spec::config::{AdclrConfig, ModelConfig};
use std::collections::HashMap;

pub type Named = HashMap<String, Vec<f64>>;

/// Adds dW and db of a linear layer into `grads` under `name`.weight / .bias; returns dx.
#[allow(clippy::too_many_arguments)]
fn linear_backward(
    g: &mut Named,
    name: &str,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    rows: usize,
    inp: usize,
    out: usize,
) -> Vec<f64> {
    let (dx, dw, db) = linear::backward(x, w, dy, rows, inp, out);
    add_into(g, &format!("{name}.weight"), &dw);
    add_into(g, &format!("{name}.bias"), &db);
    dx
}

pub fn add_into(g: &mut Named, name: &str, v: &[f64]) {
    let e = g.entry(name.to_string()).or_insert_with(|| vec![0.0; v.len()]);
    for (a, b) in e.iter_mut().zip(v) {
        *a += b;
    }
}

fn p<'a>(params: &'a Named, name: &str) -> &'a [f64] {
    params.get(name).unwrap_or_else(|| panic!("no parameter {name}"))
}

/// One group of views through the backbone.
pub struct GroupSpec<'a> {
    pub images: usize,
    pub patches: usize,
    pub queries: usize,
    /// [images * N, CPP] and [images * Q, CPP].
    pub patch_rows: &'a [f64],
    pub query_rows: &'a [f64],
    /// [1 + N, 1 + N_native] resize of the positional table, or None at the native grid.
    pub pos_resize: Option<&'a [f64]>,
    /// [depth * 2 * images] drop-path scales.
    pub drop: &'a [f64],
}

struct BlockCache {
    x_in: Vec<f64>,
    y1: Vec<f64>,
    qkv: Vec<f64>,
    attn: Vec<f64>,
    x_mid: Vec<f64>,
    y2: Vec<f64>,
    h: Vec<f64>,
    g: Vec<f64>,
}

pub struct GroupCache {
    blocks: Vec<BlockCache>,
    x_last: Vec<f64>,
    /// [images * T, D] after the final LayerNorm.
    pub normed: Vec<f64>,
}

fn att_shape(c: &ModelConfig, a: &AdclrConfig, g: &GroupSpec) -> AttentionShape {
    AttentionShape {
        batch: g.images,
        tokens: 1 + g.patches + g.queries,
        heads: c.heads,
        head_dim: c.head_dim(),
        n_base: 1 + g.patches,
        query_attends: a.query_attends,
        bidirectional: a.bidirectional,
    }
}

pub fn backbone_forward(a: &AdclrConfig, params: &Named, g: &GroupSpec) -> GroupCache {
    let c = &a.model;
    let (d, cpp) = (c.dim, c.patch_len());
    let ts = TokenShape { images: g.images, patches: g.patches, queries: g.queries, dim: d };
    let t_n = ts.tokens();
    let rows = g.images * t_n;
    let pos_native = p(params, "pos_embed");
    let pos = match g.pos_resize {
        Some(m) => {
            let n_native = pos_native.len() / d;
            matmul::forward(&MatmulShape::new(1, 1 + g.patches, d, n_native), m, pos_native, None, 1.0)
        }
        None => pos_native.to_vec(),
    };
    let (w_pe, b_pe) = (p(params, "patch_embed.proj.weight"), p(params, "patch_embed.proj.bias"));
    let pp = linear::forward(g.patch_rows, w_pe, Some(b_pe), g.images * g.patches, cpp, d);
    let qp = linear::forward(g.query_rows, w_pe, Some(b_pe), g.images * g.queries, cpp, d);
    let mut x = tokens::assemble(&ts, p(params, "cls_token"), &pos, &pp, &qp);
    let att = att_shape(c, a, g);
    let mut blocks = Vec::with_capacity(c.depth);
    for l in 0..c.depth {
        let b = format!("blocks.{l}");
        let q = |n: &str| p(params, &format!("{b}.{n}"));
        let s1 = &g.drop[(l * 2) * g.images..(l * 2 + 1) * g.images];
        let s2 = &g.drop[(l * 2 + 1) * g.images..(l * 2 + 2) * g.images];
        let y1 = layernorm::forward(&x, q("norm1.weight"), q("norm1.bias"), rows, d, c.ln_eps).0;
        let qkv = linear::forward(&y1, q("attn.qkv.weight"), Some(q("attn.qkv.bias")), rows, d, 3 * d);
        let attn = attention::forward(&att, &qkv).0;
        let proj = linear::forward(&attn, q("attn.proj.weight"), Some(q("attn.proj.bias")), rows, d, d);
        let x_mid = residual::add(&x, &proj, s1, d, t_n);
        let y2 = layernorm::forward(&x_mid, q("norm2.weight"), q("norm2.bias"), rows, d, c.ln_eps).0;
        let h = linear::forward(&y2, q("mlp.fc1.weight"), Some(q("mlp.fc1.bias")), rows, d, c.hidden());
        let gg = gelu::forward(&h);
        let fc2 = linear::forward(&gg, q("mlp.fc2.weight"), Some(q("mlp.fc2.bias")), rows, c.hidden(), d);
        let x_out = residual::add(&x_mid, &fc2, s2, d, t_n);
        blocks.push(BlockCache { x_in: x, y1, qkv, attn, x_mid, y2, h, g: gg });
        x = x_out;
    }
    let normed = layernorm::forward(&x, p(params, "norm.weight"), p(params, "norm.bias"), rows, d, c.ln_eps).0;
    GroupCache { blocks, x_last: x, normed }
}

/// Adds the backbone's parameter gradients for d(normed) into `grads`.
pub fn backbone_backward(
    a: &AdclrConfig,
    params: &Named,
    g: &GroupSpec,
    cache: &GroupCache,
    d_normed: &[f64],
    grads: &mut Named,
) {
    let c = &a.model;
    let (d, cpp) = (c.dim, c.patch_len());
    let ts = TokenShape { images: g.images, patches: g.patches, queries: g.queries, dim: d };
    let t_n = ts.tokens();
    let rows = g.images * t_n;
    let (mut dx, dw, db) = layernorm::backward(&cache.x_last, p(params, "norm.weight"), d_normed, rows, d, c.ln_eps);
    add_into(grads, "norm.weight", &dw);
    add_into(grads, "norm.bias", &db);
    let att = att_shape(c, a, g);
    for l in (0..c.depth).rev() {
        let b = format!("blocks.{l}");
        let q = |n: &str| p(params, &format!("{b}.{n}"));
        let bc = &cache.blocks[l];
        let s1 = &g.drop[(l * 2) * g.images..(l * 2 + 1) * g.images];
        let s2 = &g.drop[(l * 2 + 1) * g.images..(l * 2 + 2) * g.images];
        let d_fc2 = residual::branch_grad(&dx, s2, d, t_n);
        let d_g =
            linear_backward(grads, &format!("{b}.mlp.fc2"), &bc.g, q("mlp.fc2.weight"), &d_fc2, rows, c.hidden(), d);
        let d_h = gelu::backward(&bc.h, &d_g);
        let d_y2 =
            linear_backward(grads, &format!("{b}.mlp.fc1"), &bc.y2, q("mlp.fc1.weight"), &d_h, rows, d, c.hidden());
        let (dxm, dw2, db2) = layernorm::backward(&bc.x_mid, q("norm2.weight"), &d_y2, rows, d, c.ln_eps);
        add_into(grads, &format!("{b}.norm2.weight"), &dw2);
        add_into(grads, &format!("{b}.norm2.bias"), &db2);
        for (a, v) in dx.iter_mut().zip(&dxm) {
            *a += v;
        }
        let d_proj = residual::branch_grad(&dx, s1, d, t_n);
        let d_attn =
            linear_backward(grads, &format!("{b}.attn.proj"), &bc.attn, q("attn.proj.weight"), &d_proj, rows, d, d);
        let d_qkv = attention::backward(&att, &bc.qkv, &d_attn);
        let d_y1 =
            linear_backward(grads, &format!("{b}.attn.qkv"), &bc.y1, q("attn.qkv.weight"), &d_qkv, rows, d, 3 * d);
        let (dxi, dw1, db1) = layernorm::backward(&bc.x_in, q("norm1.weight"), &d_y1, rows, d, c.ln_eps);
        add_into(grads, &format!("{b}.norm1.weight"), &dw1);
        add_into(grads, &format!("{b}.norm1.bias"), &db1);
        for (a, v) in dx.iter_mut().zip(&dxi) {
            *a += v;
        }
    }
    let (dcls, dpos, dpatch, dquery) = tokens::backward(&ts, &dx);
    add_into(grads, "cls_token", &dcls);
    let dpos_native = match g.pos_resize {
        Some(m) => {
            let n_native = p(params, "pos_embed").len() / d;
            let s = MatmulShape::new(1, 1 + g.patches, d, n_native);
            matmul::backward(&s, m, p(params, "pos_embed"), &dpos, 1.0).1
        }
        None => dpos,
    };
    add_into(grads, "pos_embed", &dpos_native);
    let w_pe = p(params, "patch_embed.proj.weight");
    linear_backward(grads, "patch_embed.proj", g.patch_rows, w_pe, &dpatch, g.images * g.patches, cpp, d);
    if g.queries > 0 {
        linear_backward(grads, "patch_embed.proj", g.query_rows, w_pe, &dquery, g.images * g.queries, cpp, d);
    }
}

pub struct HeadCache {
    x: Vec<f64>,
    a1: Vec<f64>,
    g1: Vec<f64>,
    a2: Vec<f64>,
    g2: Vec<f64>,
    z: Vec<f64>,
    zn: Vec<f64>,
    w_last: Vec<f64>,
    /// [rows, K]
    pub logits: Vec<f64>,
}

pub fn head_forward(c: &ModelConfig, params: &Named, x: &[f64], rows: usize) -> HeadCache {
    let (d, h, bn, k) = (c.dim, c.head_hidden, c.head_bottleneck, c.out_dim);
    let a1 = linear::forward(x, p(params, "head.mlp.0.weight"), Some(p(params, "head.mlp.0.bias")), rows, d, h);
    let g1 = gelu::forward(&a1);
    let a2 = linear::forward(&g1, p(params, "head.mlp.2.weight"), Some(p(params, "head.mlp.2.bias")), rows, h, h);
    let g2 = gelu::forward(&a2);
    let z = linear::forward(&g2, p(params, "head.mlp.4.weight"), Some(p(params, "head.mlp.4.bias")), rows, h, bn);
    let zn = l2norm::forward(&z, rows, bn, 1e-12).0;
    let w_last =
        weight_norm::forward(p(params, "head.last_layer.weight_g"), p(params, "head.last_layer.weight_v"), k, bn);
    let logits = linear::forward(&zn, &w_last, None, rows, bn, k);
    HeadCache { x: x.to_vec(), a1, g1, a2, g2, z, zn, w_last, logits }
}

/// Adds the head's gradients into `grads`; returns d(input).
pub fn head_backward(
    c: &ModelConfig,
    params: &Named,
    cache: &HeadCache,
    d_logits: &[f64],
    rows: usize,
    grads: &mut Named,
) -> Vec<f64> {
    let (d, h, bn, k) = (c.dim, c.head_hidden, c.head_bottleneck, c.out_dim);
    let (d_zn, d_w, _) = matmul::backward(&linear::shape(rows, bn, k), &cache.zn, &cache.w_last, d_logits, 1.0);
    let (dg, dv) = weight_norm::backward(
        p(params, "head.last_layer.weight_g"),
        p(params, "head.last_layer.weight_v"),
        &d_w,
        k,
        bn,
    );
    add_into(grads, "head.last_layer.weight_g", &dg);
    add_into(grads, "head.last_layer.weight_v", &dv);
    let d_z = l2norm::backward(&cache.z, &d_zn, rows, bn, 1e-12);
    let d_g2 = linear_backward(grads, "head.mlp.4", &cache.g2, p(params, "head.mlp.4.weight"), &d_z, rows, h, bn);
    let d_a2 = gelu::backward(&cache.a2, &d_g2);
    let d_g1 = linear_backward(grads, "head.mlp.2", &cache.g1, p(params, "head.mlp.2.weight"), &d_a2, rows, h, h);
    let d_a1 = gelu::backward(&cache.a1, &d_g1);
    linear_backward(grads, "head.mlp.0", &cache.x, p(params, "head.mlp.0.weight"), &d_a1, rows, d, h)
}
