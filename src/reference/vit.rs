//! The whole ADCLR step on the CPU in f64: ViT backbone, DINO head, both loss terms,
//! clipping, AdamW, EMA teacher and centres, composed from the reference ops. The GPU step
//! (model::step) is tested against it.

use super::attention::AttentionShape;
use super::dino::DinoShape;
use super::matmul::MatmulShape;
use super::tokens::TokenShape;
use super::{attention, dino, gelu, l2norm, layernorm, matmul, optim, tokens, weight_norm};
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use crate::spec::config::{AdclrConfig, ModelConfig};
use crate::spec::params::ParamStore;
use std::collections::HashMap;

pub type Named = HashMap<String, Vec<f64>>;

fn linear_shape(rows: usize, inp: usize, out: usize) -> MatmulShape {
    let mut s = MatmulShape::new(1, rows, out, inp);
    s.trans_b = true;
    s
}

/// y [rows, out] = x [rows, in] W^T + b.
pub fn linear(x: &[f64], w: &[f64], b: Option<&[f64]>, rows: usize, inp: usize, out: usize) -> Vec<f64> {
    matmul::forward(&linear_shape(rows, inp, out), x, w, b, 1.0)
}

/// Adds dW and db into `grads` under `name`.weight / .bias; returns dx.
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
    let (dx, dw, db) = matmul::backward(&linear_shape(rows, inp, out), x, w, dy, 1.0);
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

fn residual(x: &[f64], br: &[f64], scale: &[f64], dim: usize, rows_per: usize) -> Vec<f64> {
    tokens::residual(x, br, scale, dim, rows_per)
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
    let pp = linear(g.patch_rows, w_pe, Some(b_pe), g.images * g.patches, cpp, d);
    let qp = linear(g.query_rows, w_pe, Some(b_pe), g.images * g.queries, cpp, d);
    let mut x = tokens::assemble(&ts, p(params, "cls_token"), &pos, &pp, &qp);
    let att = att_shape(c, a, g);
    let mut blocks = Vec::with_capacity(c.depth);
    for l in 0..c.depth {
        let b = format!("blocks.{l}");
        let q = |n: &str| p(params, &format!("{b}.{n}"));
        let s1 = &g.drop[(l * 2) * g.images..(l * 2 + 1) * g.images];
        let s2 = &g.drop[(l * 2 + 1) * g.images..(l * 2 + 2) * g.images];
        let y1 = layernorm::forward(&x, q("norm1.weight"), q("norm1.bias"), rows, d, c.ln_eps).0;
        let qkv = linear(&y1, q("attn.qkv.weight"), Some(q("attn.qkv.bias")), rows, d, 3 * d);
        let attn = attention::forward(&att, &qkv).0;
        let proj = linear(&attn, q("attn.proj.weight"), Some(q("attn.proj.bias")), rows, d, d);
        let x_mid = residual(&x, &proj, s1, d, t_n);
        let y2 = layernorm::forward(&x_mid, q("norm2.weight"), q("norm2.bias"), rows, d, c.ln_eps).0;
        let h = linear(&y2, q("mlp.fc1.weight"), Some(q("mlp.fc1.bias")), rows, d, c.hidden());
        let gg = gelu::forward(&h);
        let fc2 = linear(&gg, q("mlp.fc2.weight"), Some(q("mlp.fc2.bias")), rows, c.hidden(), d);
        let x_out = residual(&x_mid, &fc2, s2, d, t_n);
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
        let d_fc2 = tokens::residual_branch_grad(&dx, s2, d, t_n);
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
        let d_proj = tokens::residual_branch_grad(&dx, s1, d, t_n);
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
    let a1 = linear(x, p(params, "head.mlp.0.weight"), Some(p(params, "head.mlp.0.bias")), rows, d, h);
    let g1 = gelu::forward(&a1);
    let a2 = linear(&g1, p(params, "head.mlp.2.weight"), Some(p(params, "head.mlp.2.bias")), rows, h, h);
    let g2 = gelu::forward(&a2);
    let z = linear(&g2, p(params, "head.mlp.4.weight"), Some(p(params, "head.mlp.4.bias")), rows, h, bn);
    let zn = l2norm::forward(&z, rows, bn, 1e-12).0;
    let w_last =
        weight_norm::forward(p(params, "head.last_layer.weight_g"), p(params, "head.last_layer.weight_v"), k, bn);
    let logits = linear(&zn, &w_last, None, rows, bn, k);
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
    let (d_zn, d_w, _) = matmul::backward(&linear_shape(rows, bn, k), &cache.zn, &cache.w_last, d_logits, 1.0);
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

/// Training state in flat chunk vectors (the GPU's layout), f64.
#[derive(Clone, Debug)]
pub struct RefState {
    pub store: ParamStore,
    pub student: Vec<Vec<f64>>,
    pub teacher: Vec<Vec<f64>>,
    pub m: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
    pub centre_cls: Vec<f64>,
    pub centre_query: Vec<f64>,
}

impl RefState {
    pub fn named(&self, flats: &[Vec<f64>]) -> Named {
        self.store
            .specs
            .iter()
            .map(|s| (s.name.clone(), self.store.slice(flats, &s.name).unwrap_or(&[]).to_vec()))
            .collect()
    }

    /// `named` gradients laid out as the chunks' flat vectors.
    pub fn flatten(&self, named: &Named) -> Vec<Vec<f64>> {
        let mut flats: Vec<Vec<f64>> = self.store.chunks.iter().map(|c| vec![0.0; c.total]).collect();
        for (i, s) in self.store.specs.iter().enumerate() {
            let (c, off) = self.store.offset(i);
            if let Some(v) = named.get(&s.name) {
                flats[c][off..off + v.len()].copy_from_slice(v);
            }
        }
        flats
    }
}

fn rows_of(x: &[f64], index: &[usize], dim: usize) -> Vec<f64> {
    tokens::gather(x, index, dim)
}

/// Row indices of the CLS tokens and the query tokens of a group.
pub fn cls_rows(images: usize, tokens: usize) -> Vec<usize> {
    (0..images).map(|i| i * tokens).collect()
}

pub fn query_rows(images: usize, tokens: usize, patches: usize, queries: usize) -> Vec<usize> {
    (0..images).flat_map(|i| (0..queries).map(move |q| i * tokens + 1 + patches + q)).collect()
}

/// One ADCLR step on the CPU. Returns the report and the flat gradients (before clipping).
pub fn adclr_step(
    a: &AdclrConfig,
    st: &mut RefState,
    input: &StepInput,
    hyper: &StepHyper,
    pos_resize: &[f64],
) -> (StepReport, Vec<Vec<f64>>) {
    let c = &a.model;
    let (b, q, l, d, k) = (a.batch, a.queries, a.local_crops, c.dim, c.out_dim);
    let (n_g, n_l) = (c.patches(c.image_size), c.patches(c.local_size));
    let (t_g, t_l) = (1 + n_g + q, 1 + n_l);
    let widen = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<f64>>();
    let (gp, qp, lp) = (widen(&input.global_patches), widen(&input.query_patches), widen(&input.local_patches));
    let (gdrop, ldrop) = (widen(&input.global_drop), widen(&input.local_drop));
    let ones = vec![1.0; c.depth * 2 * 2 * b];
    let student = st.named(&st.student);
    let teacher = st.named(&st.teacher);
    let global = |drop| GroupSpec {
        images: 2 * b,
        patches: n_g,
        queries: q,
        patch_rows: &gp,
        query_rows: &qp,
        pos_resize: None,
        drop,
    };
    let local = GroupSpec {
        images: l * b,
        patches: n_l,
        queries: 0,
        patch_rows: &lp,
        query_rows: &[],
        pos_resize: Some(pos_resize),
        drop: &ldrop,
    };

    // Teacher: global views, CLS rows then query rows.
    let tg = backbone_forward(a, &teacher, &global(&ones));
    let mut t_in = rows_of(&tg.normed, &cls_rows(2 * b, t_g), d);
    t_in.extend(rows_of(&tg.normed, &query_rows(2 * b, t_g, n_g, q), d));
    let t_head = head_forward(c, &teacher, &t_in, a.teacher_head_rows());
    let (t_cls, t_query) = t_head.logits.split_at(2 * b * k);

    // Student: global and local views; head rows = global CLS, local CLS, global queries.
    let sg = backbone_forward(a, &student, &global(&gdrop));
    let sl = (l > 0).then(|| backbone_forward(a, &student, &local));
    let mut s_in = rows_of(&sg.normed, &cls_rows(2 * b, t_g), d);
    if let Some(sl) = &sl {
        s_in.extend(rows_of(&sl.normed, &cls_rows(l * b, t_l), d));
    }
    s_in.extend(rows_of(&sg.normed, &query_rows(2 * b, t_g, n_g, q), d));
    let n_s = a.student_head_rows();
    let s_head = head_forward(c, &student, &s_in, n_s);
    let n_cls = (2 + l) * b;
    let (s_cls, s_query) = s_head.logits.split_at(n_cls * k);

    let gsh = DinoShape { n_teacher: 2 * b, n_student: n_cls, k, tau_t: hyper.teacher_temp, tau_s: a.student_temp };
    let gpairs = a.global_pairs();
    let global_loss = dino::loss(&gsh, t_cls, s_cls, &st.centre_cls, &gpairs);
    let mut d_logits = dino::grad_student(&gsh, t_cls, s_cls, &st.centre_cls, &gpairs, 1.0);
    let mut query_loss = 0.0;
    if q > 0 {
        let qsh = DinoShape {
            n_teacher: 2 * b * q,
            n_student: 2 * b * q,
            k,
            tau_t: hyper.teacher_temp,
            tau_s: a.student_temp,
        };
        let qpairs = a.query_pairs();
        query_loss = dino::loss(&qsh, t_query, s_query, &st.centre_query, &qpairs);
        d_logits.extend(dino::grad_student(&qsh, t_query, s_query, &st.centre_query, &qpairs, a.lambda));
    }

    // Backward.
    let mut grads = Named::new();
    let d_in = head_backward(c, &student, &s_head, &d_logits, n_s, &mut grads);
    let mut d_global = vec![0.0; 2 * b * t_g * d];
    let mut d_local = vec![0.0; l * b * t_l * d];
    let put = |dst: &mut Vec<f64>, rows: &[usize], src: &[f64]| {
        for (r, &i) in rows.iter().enumerate() {
            dst[i * d..(i + 1) * d].copy_from_slice(&src[r * d..(r + 1) * d]);
        }
    };
    put(&mut d_global, &cls_rows(2 * b, t_g), &d_in[..2 * b * d]);
    put(&mut d_local, &cls_rows(l * b, t_l), &d_in[2 * b * d..n_cls * d]);
    put(&mut d_global, &query_rows(2 * b, t_g, n_g, q), &d_in[n_cls * d..]);
    backbone_backward(a, &student, &global(&gdrop), &sg, &d_global, &mut grads);
    if let Some(sl) = &sl {
        backbone_backward(a, &student, &local, sl, &d_local, &mut grads);
    }

    // Update: per-tensor clipping, AdamW, EMA teacher, centres.
    st.store.begin_step(hyper.freeze_last_layer);
    let flat_grads = st.flatten(&grads);
    let opt = optim::AdamW {
        lr: hyper.lr,
        weight_decay: hyper.weight_decay,
        beta1: a.adam_beta1,
        beta2: a.adam_beta2,
        eps: a.adam_eps,
    };
    for (ci, layout) in st.store.chunks.iter().enumerate() {
        let clip = optim::clip_scales(&flat_grads[ci], &layout.segments, a.clip_grad);
        optim::adamw_step(
            &opt,
            &layout.segments,
            &clip,
            &flat_grads[ci],
            &mut st.student[ci],
            &mut st.m[ci],
            &mut st.v[ci],
        );
        optim::ema(&mut st.teacher[ci], &st.student[ci], hyper.teacher_momentum);
    }
    st.centre_cls = dino::centre_update(&st.centre_cls, t_cls, 2 * b, k, a.centre_momentum);
    if q > 0 {
        st.centre_query = dino::centre_update(&st.centre_query, t_query, 2 * b * q, k, a.centre_momentum);
    }
    let report = StepReport { loss: global_loss + a.lambda * query_loss, global_loss, query_loss };
    (report, flat_grads)
}
