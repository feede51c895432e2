//! The whole ADCLR step on the CPU in f64, in llm.c's order: forward (teacher and student
//! backbones and heads), losses (both DINO terms), backward, update (per-tensor clipping,
//! AdamW, EMA teacher, centres). The GPU step (model::step) is tested against it.

use super::dino::{self, DinoShape};
use super::vit::{
    backbone_backward, backbone_forward, head_backward, head_forward, GroupCache, GroupSpec, HeadCache, Named,
};
use super::{optim, rows, widen};
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use crate::spec::config::AdclrConfig;
use crate::spec::params::ParamStore;

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

/// Row indices of the CLS tokens and the query tokens of a group.
pub fn cls_rows(images: usize, tokens: usize) -> Vec<usize> {
    (0..images).map(|i| i * tokens).collect()
}

pub fn query_rows(images: usize, tokens: usize, patches: usize, queries: usize) -> Vec<usize> {
    (0..images).flat_map(|i| (0..queries).map(move |q| i * tokens + 1 + patches + q)).collect()
}

/// The step's inputs in f64, and all-ones drop-path scales for the teacher.
struct Views<'a> {
    a: &'a AdclrConfig,
    /// [2B * N, CPP], [2B * Q, CPP], [L B * N_local, CPP]
    global_patches: Vec<f64>,
    query_patches: Vec<f64>,
    local_patches: Vec<f64>,
    /// [depth * 2 * 2B], [depth * 2 * L B]
    global_drop: Vec<f64>,
    local_drop: Vec<f64>,
    ones: Vec<f64>,
    /// [1 + N_local, 1 + N] resize of the positional table for local views.
    pos_resize: &'a [f64],
}

impl<'a> Views<'a> {
    fn new(a: &'a AdclrConfig, input: &StepInput, pos_resize: &'a [f64]) -> Self {
        Views {
            a,
            global_patches: widen(&input.global_patches),
            query_patches: widen(&input.query_patches),
            local_patches: widen(&input.local_patches),
            global_drop: widen(&input.global_drop),
            local_drop: widen(&input.local_drop),
            ones: vec![1.0; a.model.depth * 2 * 2 * a.batch],
            pos_resize,
        }
    }

    /// The 2B global views with their query tokens: the student's (with drop path) or the teacher's.
    fn global(&self, student: bool) -> GroupSpec<'_> {
        let c = &self.a.model;
        GroupSpec {
            images: 2 * self.a.batch,
            patches: c.patches(c.image_size),
            queries: self.a.queries,
            patch_rows: &self.global_patches,
            query_rows: &self.query_patches,
            pos_resize: None,
            drop: if student { &self.global_drop } else { &self.ones },
        }
    }

    /// The L B local views (student only, no query tokens).
    fn local(&self) -> GroupSpec<'_> {
        let c = &self.a.model;
        GroupSpec {
            images: self.a.local_crops * self.a.batch,
            patches: c.patches(c.local_size),
            queries: 0,
            patch_rows: &self.local_patches,
            query_rows: &[],
            pos_resize: Some(self.pos_resize),
            drop: &self.local_drop,
        }
    }

    /// Tokens per global and per local view.
    fn tokens(&self) -> (usize, usize) {
        let c = &self.a.model;
        (1 + c.patches(c.image_size) + self.a.queries, 1 + c.patches(c.local_size))
    }
}

/// What the forward pass leaves for the losses and the backward pass.
struct Forward {
    teacher_head: HeadCache,
    student_global: GroupCache,
    student_local: Option<GroupCache>,
    /// Head rows: global CLS [2B], local CLS [L B], global queries [2B Q].
    student_head: HeadCache,
}

fn forward(a: &AdclrConfig, st: &RefState, v: &Views) -> Forward {
    let (b, q, l, d) = (a.batch, a.queries, a.local_crops, a.model.dim);
    let n_g = a.model.patches(a.model.image_size);
    let (t_g, t_l) = v.tokens();
    let (student, teacher) = (st.named(&st.student), st.named(&st.teacher));
    // Teacher: global views, CLS rows then query rows.
    let tg = backbone_forward(a, &teacher, &v.global(false));
    let mut t_in = rows::gather(&tg.normed, &cls_rows(2 * b, t_g), d);
    t_in.extend(rows::gather(&tg.normed, &query_rows(2 * b, t_g, n_g, q), d));
    let teacher_head = head_forward(&a.model, &teacher, &t_in, a.teacher_head_rows());
    // Student: global and local views.
    let sg = backbone_forward(a, &student, &v.global(true));
    let sl = (l > 0).then(|| backbone_forward(a, &student, &v.local()));
    let mut s_in = rows::gather(&sg.normed, &cls_rows(2 * b, t_g), d);
    if let Some(sl) = &sl {
        s_in.extend(rows::gather(&sl.normed, &cls_rows(l * b, t_l), d));
    }
    s_in.extend(rows::gather(&sg.normed, &query_rows(2 * b, t_g, n_g, q), d));
    let student_head = head_forward(&a.model, &student, &s_in, a.student_head_rows());
    Forward { teacher_head, student_global: sg, student_local: sl, student_head }
}

/// The teacher's CLS logits [2B, K] and query logits [2B Q, K].
fn teacher_logits<'f>(a: &AdclrConfig, f: &'f Forward) -> (&'f [f64], &'f [f64]) {
    f.teacher_head.logits.split_at(2 * a.batch * a.model.out_dim)
}

/// Both loss terms and d(student logits) [head rows, K].
fn losses(a: &AdclrConfig, st: &RefState, hyper: &StepHyper, f: &Forward) -> (StepReport, Vec<f64>) {
    let (b, q, k) = (a.batch, a.queries, a.model.out_dim);
    let n_cls = (2 + a.local_crops) * b;
    let (t_cls, t_query) = teacher_logits(a, f);
    let (s_cls, s_query) = f.student_head.logits.split_at(n_cls * k);
    let shape = |n_teacher, n_student, tau_t| DinoShape { n_teacher, n_student, k, tau_t, tau_s: a.student_temp };
    let (gsh, gpairs) = (shape(2 * b, n_cls, hyper.teacher_temp), a.global_pairs());
    let global_loss = dino::loss(&gsh, t_cls, s_cls, &st.centre_cls, &gpairs);
    let mut d_logits = dino::grad_student(&gsh, t_cls, s_cls, &st.centre_cls, &gpairs, 1.0);
    let mut query_loss = 0.0;
    if q > 0 {
        let (qsh, qpairs) = (shape(2 * b * q, 2 * b * q, hyper.teacher_query_temp), a.query_pairs());
        query_loss = dino::loss(&qsh, t_query, s_query, &st.centre_query, &qpairs);
        d_logits.extend(dino::grad_student(&qsh, t_query, s_query, &st.centre_query, &qpairs, a.lambda));
    }
    (StepReport { loss: global_loss + a.lambda * query_loss, global_loss, query_loss }, d_logits)
}

/// The student's gradients by name for d(student logits).
fn backward(a: &AdclrConfig, st: &RefState, v: &Views, f: &Forward, d_logits: &[f64]) -> Named {
    let (b, q, l, d) = (a.batch, a.queries, a.local_crops, a.model.dim);
    let n_g = a.model.patches(a.model.image_size);
    let (t_g, t_l) = v.tokens();
    let n_cls = (2 + l) * b;
    let student = st.named(&st.student);
    let mut grads = Named::new();
    let d_in = head_backward(&a.model, &student, &f.student_head, d_logits, a.student_head_rows(), &mut grads);
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
    backbone_backward(a, &student, &v.global(true), &f.student_global, &d_global, &mut grads);
    if let Some(sl) = &f.student_local {
        backbone_backward(a, &student, &v.local(), sl, &d_local, &mut grads);
    }
    grads
}

/// Per-tensor clipping, AdamW, EMA teacher and centres; returns the flat gradients.
fn update(a: &AdclrConfig, st: &mut RefState, hyper: &StepHyper, f: &Forward, grads: &Named) -> Vec<Vec<f64>> {
    st.store.begin_step(hyper.freeze_last_layer);
    let flat_grads = st.flatten(grads);
    let opt = optim::AdamW {
        lr: hyper.lr,
        weight_decay: hyper.weight_decay,
        beta1: a.adam_beta1,
        beta2: a.adam_beta2,
        eps: a.adam_eps,
    };
    for (ci, layout) in st.store.chunks.iter().enumerate() {
        let clip = optim::clip_scales(&flat_grads[ci], &layout.segments, a.clip_grad);
        let (student, m, v) = (&mut st.student[ci], &mut st.m[ci], &mut st.v[ci]);
        optim::adamw_step(&opt, &layout.segments, &clip, &flat_grads[ci], student, m, v);
        optim::ema(&mut st.teacher[ci], &st.student[ci], hyper.teacher_momentum);
    }
    let (b, q, k) = (a.batch, a.queries, a.model.out_dim);
    let (t_cls, t_query) = teacher_logits(a, f);
    st.centre_cls = dino::centre_update(&st.centre_cls, t_cls, 2 * b, k, a.centre_momentum);
    if q > 0 {
        st.centre_query = dino::centre_update(&st.centre_query, t_query, 2 * b * q, k, a.centre_momentum);
    }
    flat_grads
}

/// One ADCLR step on the CPU. Returns the report and the flat gradients (before clipping).
pub fn adclr_step(
    a: &AdclrConfig,
    st: &mut RefState,
    input: &StepInput,
    hyper: &StepHyper,
    pos_resize: &[f64],
) -> (StepReport, Vec<Vec<f64>>) {
    let views = Views::new(a, input, pos_resize);
    let fwd = forward(a, st, &views);
    let (report, d_logits) = losses(a, st, hyper, &fwd);
    let grads = backward(a, st, &views, &fwd, &d_logits);
    let flat_grads = update(a, st, hyper, &fwd, &grads);
    (report, flat_grads)
}
