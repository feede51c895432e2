//! One complete ADCLR optimisation step on the GPU (ADCLR.md): teacher forward on the global
//! views, student forward on global and local views, the multi-crop global loss plus lambda
//! times the query loss (each with its centre), backward through head and backbone,
//! per-tensor clipping, AdamW, EMA teacher and centre updates. Everything is planned and
//! recorded at start-up; a step writes its inputs and schedules and submits three phases
//! (forward, backward, update) without reading anything back.

use super::backbone::{Group, GroupSpec, ParamViews};
use super::head::Head;
use super::pos_embed::resize_matrix;
use crate::error::{shape_error, Error, Result};
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor, MemoryPlan};
use crate::ops::dino::{centre_update, DinoLoss, DinoShape};
use crate::ops::health::{Health, HealthState};
use crate::ops::optim::{ema, ema_params, AdamW, Optimizer};
use crate::ops::{elementwise, rows};
use crate::reference::vit::{cls_rows, query_rows};
use crate::rng::Rng;
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use crate::spec::config::AdclrConfig;
use crate::spec::params::ParamStore;

/// The flat buffers of one parameter chunk.
pub struct ChunkBuffers {
    pub student: GpuTensor,
    pub teacher: GpuTensor,
    pub grads: GpuTensor,
    pub m: GpuTensor,
    pub v: GpuTensor,
}

/// Which flat set to read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flat {
    Student,
    Teacher,
    Grads,
    AdamM,
    AdamV,
}

/// Health codes: which term went non-finite.
pub const CODE_GLOBAL_LOSS: u32 = 1;
pub const CODE_QUERY_LOSS: u32 = 2;
/// Gradients of chunk i have code CODE_GRADIENTS + i.
pub const CODE_GRADIENTS: u32 = 16;
/// The state after an update: chunk i's student parameters have code CODE_STATE + 3 i, its
/// Adam moments CODE_STATE + 3 i + 1 and + 2 (checked when the host reads the flag).
pub const CODE_STATE: u32 = 1 << 16;
/// The flats a state check covers, in code order.
const STATE_FLATS: [Flat; 3] = [Flat::Student, Flat::AdamM, Flat::AdamV];

pub struct AdclrStep {
    pub cfg: AdclrConfig,
    pub store: ParamStore,
    pub chunks: Vec<ChunkBuffers>,
    /// [K] centres of the CLS and query terms.
    pub centre_cls: GpuTensor,
    pub centre_query: GpuTensor,
    pub student_global: Group,
    pub student_local: Option<Group>,
    pub teacher_global: Group,
    pub student_head: Head,
    pub teacher_head: Head,
    pub global_loss: DinoLoss,
    pub query_loss: Option<DinoLoss>,
    pub optimizers: Vec<Optimizer>,
    pub health: Health,
    /// (check, values length, code) of the loss terms and gradient norms, every step
    checks: Vec<(Dispatch, usize, u32)>,
    /// (check, values length, code) of the parameters and moments, when the flag is read
    state_checks: Vec<(Dispatch, usize, u32)>,
    /// `freeze_last_layer` of each step run since the flag was last read healthy: what a
    /// failure needs to put the step counters back to the state before the failing step.
    unchecked: Vec<bool>,
    ema: Vec<(Dispatch, usize)>,
    centres: Vec<Dispatch>,
    forward: Vec<Dispatch>,
    zero_grads: Vec<Dispatch>,
    backward: Vec<Dispatch>,
    pub plan: MemoryPlan,
    /// Tensors of a dry run that exceed this device's limits.
    pub over_limit: Vec<(String, u64)>,
    /// Steps taken.
    pub step: u64,
    /// Host time the last `run` spent creating and recording its command buffers, and in
    /// `queue.submit` (where a software driver may execute them before returning).
    pub last_host_time: (std::time::Duration, std::time::Duration),
}

fn views(store: &ParamStore, e: &Engine, chunks: &[GpuTensor]) -> Result<ParamViews> {
    let mut v = ParamViews::new();
    for (i, s) in store.specs.iter().enumerate() {
        let (c, seg) = store.place[i];
        let off = store.chunks[c].segments[seg].offset;
        v.insert(s.name.clone(), chunks[c].view(&e.ctx, &s.name, off, &s.shape)?);
    }
    Ok(v)
}

impl AdclrStep {
    /// Plans and allocates everything, initialises student = teacher (timm/DINO init from
    /// `seed`), and records every phase.
    pub fn new(e: &Engine, cfg: &AdclrConfig, seed: u64) -> Result<Self> {
        cfg.validate().map_err(|m| shape_error("adclr_step", m))?;
        let c = &cfg.model;
        let (b, q, l, d, k) = (cfg.batch, cfg.queries, cfg.local_crops, c.dim, c.out_dim);
        let max_chunk = (e.ctx.limits.max_storage_buffer_binding_size / 4) as usize;
        let store = ParamStore::new(c, max_chunk).map_err(|m| shape_error("parameters", m))?;
        let mut al = Alloc::new(e);
        let mut chunks = Vec::new();
        let init = store.init(&mut Rng::new(seed));
        for (i, layout) in store.chunks.iter().enumerate() {
            let n = [layout.total];
            let cb = ChunkBuffers {
                student: al.tensor(&format!("params.{i}.student"), &n)?,
                teacher: al.tensor(&format!("params.{i}.teacher"), &n)?,
                grads: al.tensor(&format!("params.{i}.grads"), &n)?,
                m: al.tensor(&format!("params.{i}.adam_m"), &n)?,
                v: al.tensor(&format!("params.{i}.adam_v"), &n)?,
            };
            cb.student.write_f32(&e.ctx, &init[i])?;
            cb.teacher.write_f32(&e.ctx, &init[i])?;
            chunks.push(cb);
        }
        let sv = views(&store, e, &chunks.iter().map(|c| c.student.clone()).collect::<Vec<_>>())?;
        let tv = views(&store, e, &chunks.iter().map(|c| c.teacher.clone()).collect::<Vec<_>>())?;
        let gv = views(&store, e, &chunks.iter().map(|c| c.grads.clone()).collect::<Vec<_>>())?;
        let centre_cls = al.tensor("centre.cls", &[k])?;
        let centre_query = al.tensor("centre.query", &[k])?;

        // Groups and heads.
        let spec = |name, images, side, queries, training| GroupSpec {
            name,
            images,
            side,
            queries,
            training,
            keep_blocks: false,
            share: None,
        };
        let student_global = Group::new(&mut al, cfg, &spec("student.global", 2 * b, c.image_size, q, true))?;
        let student_local = if l > 0 {
            Some(Group::new(&mut al, cfg, &spec("student.local", l * b, c.local_size, 0, true))?)
        } else {
            None
        };
        let teacher_global = Group::new(
            &mut al,
            cfg,
            &GroupSpec { share: Some(&student_global), ..spec("teacher.global", 2 * b, c.image_size, q, false) },
        )?;
        teacher_global.drop.write_f32(&e.ctx, &vec![1.0; teacher_global.drop.len()])?;
        let pos_resize = if l > 0 {
            let m: Vec<f32> =
                resize_matrix(c.grid(c.image_size), c.grid(c.local_size)).iter().map(|&x| x as f32).collect();
            let t = al.tensor("pos_resize", &[1 + c.patches(c.local_size), 1 + c.patches(c.image_size)])?;
            t.write_f32(&e.ctx, &m)?;
            Some(t)
        } else {
            None
        };
        let n_s = cfg.student_head_rows();
        let n_cls = (2 + l) * b;
        let student_head = Head::new(&mut al, c, "student.head", n_s, true)?;
        let teacher_head = Head::new(&mut al, c, "teacher.head", cfg.teacher_head_rows(), false)?;
        let (n_g, n_l) = (c.patches(c.image_size), c.patches(c.local_size));
        let (t_g, t_l) = (1 + n_g + q, 1 + n_l);
        let to_u32 = |v: Vec<usize>| v.into_iter().map(|x| x as u32).collect::<Vec<u32>>();
        let idx_cls_g = al.u32s("index.global_cls", &to_u32(cls_rows(2 * b, t_g)))?;
        let idx_query_g = al.u32s("index.global_query", &to_u32(query_rows(2 * b, t_g, n_g, q)))?;
        let idx_cls_l = al.u32s("index.local_cls", &to_u32(cls_rows(l * b, t_l)))?;

        // Loss terms on views of the logits.
        let tl = &teacher_head.logits;
        let sl = &student_head.logits;
        let sd =
            &student_head.grads.as_ref().ok_or_else(|| Error::Gpu("student head has no gradients".into()))?.d_logits;
        let tau_s = cfg.student_temp;
        let gshape = DinoShape { n_teacher: 2 * b, n_student: n_cls, k, tau_t: 0.04, tau_s };
        let global_loss = DinoLoss::new(
            &mut al,
            "loss.global",
            gshape,
            &cfg.global_pairs(),
            &tl.view(&e.ctx, "teacher.logits.cls", 0, &[2 * b, k])?,
            &sl.view(&e.ctx, "student.logits.cls", 0, &[n_cls, k])?,
            &centre_cls,
            &sd.view(&e.ctx, "student.d_logits.cls", 0, &[n_cls, k])?,
            1.0,
        )?;
        let query_loss = if q > 0 {
            let nq = 2 * b * q;
            Some(DinoLoss::new(
                &mut al,
                "loss.query",
                DinoShape { n_teacher: nq, n_student: nq, k, tau_t: 0.04, tau_s },
                &cfg.query_pairs(),
                &tl.view(&e.ctx, "teacher.logits.query", 2 * b * k, &[nq, k])?,
                &sl.view(&e.ctx, "student.logits.query", n_cls * k, &[nq, k])?,
                &centre_query,
                &sd.view(&e.ctx, "student.d_logits.query", n_cls * k, &[nq, k])?,
                cfg.lambda as f32,
            )?)
        } else {
            None
        };

        // Forward phase: teacher, student, losses.
        let mut forward = teacher_global.forward(e, cfg, &tv, None)?;
        forward.push(rows::gather(e, &teacher_global.normed, &idx_cls_g, &teacher_head.input, d, 0)?);
        if q > 0 {
            forward.push(rows::gather(e, &teacher_global.normed, &idx_query_g, &teacher_head.input, d, 2 * b)?);
        }
        forward.extend(teacher_head.forward(e, c, &tv)?);
        forward.extend(student_global.forward(e, cfg, &sv, None)?);
        forward.push(rows::gather(e, &student_global.normed, &idx_cls_g, &student_head.input, d, 0)?);
        if let Some(lg) = &student_local {
            forward.extend(lg.forward(e, cfg, &sv, pos_resize.as_ref())?);
            forward.push(rows::gather(e, &lg.normed, &idx_cls_l, &student_head.input, d, 2 * b)?);
        }
        if q > 0 {
            forward.push(rows::gather(e, &student_global.normed, &idx_query_g, &student_head.input, d, n_cls)?);
        }
        forward.extend(student_head.forward(e, c, &sv)?);

        // Backward phase (the loss terms wrote the logits' gradient in the forward phase): zero
        // the parameter gradients, then this.
        let zero_grads: Vec<Dispatch> =
            chunks.iter().map(|cb| elementwise::fill(e, &cb.grads, 0.0)).collect::<Result<_>>()?;
        let mut backward = student_head.backward(e, c, &sv, &gv)?;
        let d_in = &student_head.grads.as_ref().ok_or_else(|| Error::Gpu("no head grads".into()))?.d_input;
        let dn =
            |g: &Group| g.grads.as_ref().map(|x| x.d_normed.clone()).ok_or_else(|| Error::Gpu("no group grads".into()));
        let dn_g = dn(&student_global)?;
        backward.push(elementwise::fill(e, &dn_g, 0.0)?);
        backward.push(rows::scatter(e, d_in, &idx_cls_g, &dn_g, d, 0)?);
        if q > 0 {
            backward.push(rows::scatter(e, d_in, &idx_query_g, &dn_g, d, n_cls)?);
        }
        if let Some(lg) = &student_local {
            let dn_l = dn(lg)?;
            backward.push(elementwise::fill(e, &dn_l, 0.0)?);
            backward.push(rows::scatter(e, d_in, &idx_cls_l, &dn_l, d, 2 * b)?);
            backward.extend(lg.backward(e, cfg, &sv, &gv, pos_resize.as_ref())?);
        }
        backward.extend(student_global.backward(e, cfg, &sv, &gv, None)?);

        // Update phase pieces.
        let health = Health::new(e)?;
        let opt = AdamW { lr: 0.0, weight_decay: 0.0, beta1: cfg.adam_beta1, beta2: cfg.adam_beta2, eps: cfg.adam_eps };
        let mut optimizers = Vec::new();
        for (i, cb) in chunks.iter().enumerate() {
            optimizers.push(Optimizer::new(
                &mut al,
                &store.chunks[i],
                &opt,
                cfg.clip_grad as f32,
                &cb.grads,
                &cb.student,
                &cb.m,
                &cb.v,
                &health.flag,
            )?);
        }
        let mut checks = vec![(health.check(e, &global_loss.loss, CODE_GLOBAL_LOSS)?, 1, CODE_GLOBAL_LOSS)];
        if let Some(ql) = &query_loss {
            checks.push((health.check(e, &ql.loss, CODE_QUERY_LOSS)?, 1, CODE_QUERY_LOSS));
        }
        for (i, o) in optimizers.iter().enumerate() {
            let code = CODE_GRADIENTS + i as u32;
            checks.push((health.check(e, &o.clip, code)?, o.clip.len(), code));
        }
        let mut state_checks = Vec::new();
        for (i, cb) in chunks.iter().enumerate() {
            for (k, t) in [&cb.student, &cb.m, &cb.v].into_iter().enumerate() {
                let code = CODE_STATE + 3 * i as u32 + k as u32;
                state_checks.push((health.check(e, t, code)?, t.len(), code));
            }
        }
        let ema = chunks
            .iter()
            .map(|cb| Ok((ema(e, &cb.student, &cb.teacher, &health.flag, 0.996)?, cb.teacher.len())))
            .collect::<Result<Vec<_>>>()?;
        let mut centres = vec![centre_update(
            e,
            &global_loss.teacher_view(),
            &centre_cls,
            &health.flag,
            k,
            cfg.centre_momentum as f32,
        )?];
        if let Some(ql) = &query_loss {
            centres.push(centre_update(
                e,
                &ql.teacher_view(),
                &centre_query,
                &health.flag,
                k,
                cfg.centre_momentum as f32,
            )?);
        }
        Ok(Self {
            cfg: cfg.clone(),
            store,
            chunks,
            centre_cls,
            centre_query,
            student_global,
            student_local,
            teacher_global,
            student_head,
            teacher_head,
            global_loss,
            query_loss,
            optimizers,
            health,
            checks,
            state_checks,
            unchecked: Vec::new(),
            ema,
            centres,
            forward,
            zero_grads,
            backward,
            plan: al.plan,
            over_limit: al.over_limit,
            step: 0,
            last_host_time: Default::default(),
        })
    }

    /// Writes this step's views and schedules, then submits forward, backward and update.
    pub fn run(&mut self, e: &Engine, input: &StepInput, hyper: &StepHyper) -> Result<()> {
        input.validate(&self.cfg).map_err(|m| shape_error("adclr_step", m))?;
        let ctx = &e.ctx;
        let g = &self.student_global;
        g.patch_rows.write_f32(ctx, &input.global_patches)?;
        if self.cfg.queries > 0 {
            g.query_rows.write_f32(ctx, &input.query_patches)?;
        }
        g.drop.write_f32(ctx, &input.global_drop)?;
        if let Some(lg) = &self.student_local {
            lg.patch_rows.write_f32(ctx, &input.local_patches)?;
            lg.drop.write_f32(ctx, &input.local_drop)?;
        }
        let tau_t = hyper.teacher_temp as f32;
        self.global_loss.set_teacher_temperature(e, tau_t);
        if let Some(ql) = &self.query_loss {
            ql.set_teacher_temperature(e, tau_t);
        }
        self.store.begin_step(hyper.freeze_last_layer);
        self.unchecked.push(hyper.freeze_last_layer);
        let c = &self.cfg;
        let opt = AdamW {
            lr: hyper.lr,
            weight_decay: hyper.weight_decay,
            beta1: c.adam_beta1,
            beta2: c.adam_beta2,
            eps: c.adam_eps,
        };
        for (o, layout) in self.optimizers.iter().zip(&self.store.chunks) {
            o.set_step(e, layout, &opt);
        }
        for (d, n) in &self.ema {
            d.set_params(ctx, &ema_params(*n, hyper.teacher_momentum as f32));
        }
        for (d, n, code) in &self.checks {
            Health::set_step(e, d, *n, *code, self.step + 1);
        }
        let encode_time = std::cell::Cell::new(std::time::Duration::ZERO);
        let submit_time = std::cell::Cell::new(std::time::Duration::ZERO);
        let submit = |list: &[&Dispatch]| {
            let t = std::time::Instant::now();
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            crate::gpu::record(&mut enc, list);
            let commands = enc.finish();
            let encoded = std::time::Instant::now();
            ctx.queue.submit([commands]);
            encode_time.set(encode_time.get() + (encoded - t));
            submit_time.set(submit_time.get() + encoded.elapsed());
        };
        submit(
            &self
                .forward
                .iter()
                .chain(self.global_loss.forward.iter())
                .chain(self.query_loss.iter().flat_map(|q| q.forward.iter()))
                .collect::<Vec<_>>(),
        );
        submit(&self.zero_grads.iter().chain(self.backward.iter()).collect::<Vec<_>>());
        let mut update: Vec<&Dispatch> = Vec::with_capacity(64);
        for o in &self.optimizers {
            update.extend(&o.dispatches[..2]);
        }
        update.extend(self.checks.iter().map(|(d, _, _)| d));
        for o in &self.optimizers {
            update.push(&o.dispatches[2]);
        }
        update.extend(self.ema.iter().map(|(d, _)| d));
        update.extend(&self.centres);
        submit(&update);
        self.last_host_time = (encode_time.get(), submit_time.get());
        self.step += 1;
        Ok(())
    }

    /// Every dispatch of a step in submission order (for per-kernel profiling).
    pub fn all_dispatches(&self) -> Vec<&Dispatch> {
        let losses = || std::iter::once(&self.global_loss).chain(self.query_loss.iter());
        let mut v: Vec<&Dispatch> = self.forward.iter().chain(losses().flat_map(|l| l.forward.iter())).collect();
        v.extend(self.zero_grads.iter().chain(self.backward.iter()));
        for o in &self.optimizers {
            v.extend(&o.dispatches);
        }
        v.extend(self.ema.iter().map(|(d, _)| d));
        v.extend(&self.centres);
        v
    }

    /// The loss terms of the last step (waits for it).
    pub fn report(&self, e: &Engine) -> Result<StepReport> {
        let global_loss = self.global_loss.loss.read_f32(&e.ctx)?[0] as f64;
        let query_loss = match &self.query_loss {
            Some(q) => q.loss.read_f32(&e.ctx)?[0] as f64,
            None => 0.0,
        };
        Ok(StepReport { loss: global_loss + self.cfg.lambda * query_loss, global_loss, query_loss })
    }

    /// Ok, or an error naming the step and the term that went NaN/inf (state left as it
    /// was before that step).
    pub fn check_health(&mut self, e: &Engine) -> Result<()> {
        // The parameters and moments after the last update join the sticky flag first: an
        // update that overflows (a huge learning rate) is caught at the step that made it.
        for (d, n, code) in &self.state_checks {
            Health::set_step(e, d, *n, *code, self.step);
        }
        let mut enc = e.ctx.device.create_command_encoder(&Default::default());
        crate::gpu::record(&mut enc, &self.state_checks.iter().map(|(d, _, _)| d).collect::<Vec<_>>());
        e.ctx.queue.submit([enc.finish()]);
        match self.health.read(e)? {
            HealthState::Ok => {
                self.unchecked.clear();
                Ok(())
            }
            HealthState::Failed { code, step } => {
                let term = match code {
                    CODE_GLOBAL_LOSS => "the global (CLS) loss".to_string(),
                    CODE_QUERY_LOSS => "the query loss".to_string(),
                    c if c >= CODE_STATE => self.non_finite_state(e, (c - CODE_STATE) as usize)?,
                    c => self.non_finite_gradient(e, (c - CODE_GRADIENTS) as usize)?,
                };
                let kept = if code >= CODE_STATE {
                    "The update itself overflowed, so the state in memory is not usable. Lower the learning rate"
                        .to_string()
                } else {
                    "No update was applied from that step on, so the state before it is intact in memory. \
                     Lower the learning rate or check the input data"
                        .to_string()
                };
                Err(Error::NonFinite { step: step as u64, term, kept })
            }
        }
    }

    /// After a failed health check at step `failed` (1-based): the step counters as they
    /// were before that step. Parameters, moments, teacher and centres need nothing: the
    /// sticky flag stopped every update from that step on.
    pub fn rewind_before(&mut self, failed: u64) {
        while self.step >= failed.max(1) {
            let Some(freeze) = self.unchecked.pop() else { break };
            self.store.undo_step(freeze);
            self.step -= 1;
        }
    }

    /// "the parameters `blocks.0.attn.qkv.weight` after the update" (or the Adam moments).
    fn non_finite_state(&self, e: &Engine, index: usize) -> Result<String> {
        let (chunk, which) = (index / 3, STATE_FLATS[index % 3]);
        let what = match which {
            Flat::Student => "the parameters",
            Flat::AdamM => "the first Adam moments",
            _ => "the second Adam moments",
        };
        let flat = self.flat_tensor(&self.chunks[chunk], which).read_f32(&e.ctx)?;
        let layout = &self.store.chunks[chunk];
        let bad = layout.segments.iter().zip(&layout.names).find(|(seg, _)| {
            flat.get(seg.offset..seg.offset + seg.len).is_some_and(|v| v.iter().any(|x| !x.is_finite()))
        });
        Ok(match bad {
            Some((_, name)) => format!("{what} of `{name}` after the update"),
            None => format!("{what} after the update"),
        })
    }

    fn non_finite_gradient(&self, e: &Engine, chunk: usize) -> Result<String> {
        let clip = self.optimizers[chunk].clip.read_f32(&e.ctx)?;
        let names = &self.store.chunks[chunk].names;
        let bad = (0..names.len()).find(|&i| !clip[2 * i + 1].is_finite());
        Ok(match bad {
            Some(i) => format!("the gradient of `{}`", names[i]),
            None => "a gradient".to_string(),
        })
    }

    pub fn read_flat(&self, e: &Engine, which: Flat) -> Result<Vec<Vec<f32>>> {
        self.chunks.iter().map(|c| self.flat_tensor(c, which).read_f32(&e.ctx)).collect()
    }

    /// The backbone tensors (no head) of the student or the teacher, by timm name.
    pub fn backbone_weights(&self, e: &Engine, which: Flat) -> Result<super::state::Named> {
        let flats = self.read_flat(e, which)?;
        Ok(self
            .store
            .specs
            .iter()
            .filter(|s| crate::spec::params::is_backbone(&s.name))
            .map(|s| (s.name.clone(), self.store.slice(&flats, &s.name).unwrap_or(&[]).to_vec()))
            .collect())
    }

    pub fn write_flat(&self, e: &Engine, which: Flat, flats: &[Vec<f32>]) -> Result<()> {
        for (c, f) in self.chunks.iter().zip(flats) {
            self.flat_tensor(c, which).write_f32(&e.ctx, f)?;
        }
        Ok(())
    }

    fn flat_tensor<'a>(&self, c: &'a ChunkBuffers, which: Flat) -> &'a GpuTensor {
        match which {
            Flat::Student => &c.student,
            Flat::Teacher => &c.teacher,
            Flat::Grads => &c.grads,
            Flat::AdamM => &c.m,
            Flat::AdamV => &c.v,
        }
    }
}

impl AdclrStep {
    /// The whole training state, read back (waits for submitted work). `rng` is the
    /// trainer's generator state, stored alongside.
    pub fn state(&self, e: &Engine, rng: u64) -> Result<super::state::TrainingState> {
        let named = |which| -> Result<super::state::Named> {
            let flats = self.read_flat(e, which)?;
            Ok(self
                .store
                .specs
                .iter()
                .map(|s| (s.name.clone(), self.store.slice(&flats, &s.name).unwrap_or(&[]).to_vec()))
                .collect())
        };
        Ok(super::state::TrainingState {
            student: named(Flat::Student)?,
            teacher: named(Flat::Teacher)?,
            exp_avg: named(Flat::AdamM)?,
            exp_avg_sq: named(Flat::AdamV)?,
            tensor_steps: (0..self.store.specs.len()).map(|i| self.store.segment(i).step).collect(),
            centre_cls: self.centre_cls.read_f32(&e.ctx)?,
            centre_query: self.centre_query.read_f32(&e.ctx)?,
            step: self.step,
            rng,
        })
    }

    /// Replaces the training state (from a checkpoint); marks the state healthy.
    pub fn load_state(&mut self, e: &Engine, st: &super::state::TrainingState) -> Result<()> {
        let k = self.cfg.model.out_dim;
        if st.tensor_steps.len() != self.store.specs.len() || st.centre_cls.len() != k || st.centre_query.len() != k {
            return Err(Error::Checkpoint("state does not match this model (tensor count or out-dim)".into()));
        }
        let flats = |named: &super::state::Named| -> Result<Vec<Vec<f32>>> {
            let mut flats: Vec<Vec<f32>> = self.store.chunks.iter().map(|c| vec![0.0; c.total]).collect();
            for (i, s) in self.store.specs.iter().enumerate() {
                let v = named.get(&s.name).ok_or_else(|| Error::Checkpoint(format!("state has no `{}`", s.name)))?;
                if v.len() != s.len() {
                    return Err(Error::Checkpoint(format!(
                        "`{}` has {} values, expected {}",
                        s.name,
                        v.len(),
                        s.len()
                    )));
                }
                let (c, seg) = self.store.place[i];
                let off = self.store.chunks[c].segments[seg].offset;
                flats[c][off..off + v.len()].copy_from_slice(v);
            }
            Ok(flats)
        };
        self.write_flat(e, Flat::Student, &flats(&st.student)?)?;
        self.write_flat(e, Flat::Teacher, &flats(&st.teacher)?)?;
        self.write_flat(e, Flat::AdamM, &flats(&st.exp_avg)?)?;
        self.write_flat(e, Flat::AdamV, &flats(&st.exp_avg_sq)?)?;
        for (i, &steps) in st.tensor_steps.iter().enumerate() {
            let (c, seg) = self.store.place[i];
            self.store.chunks[c].segments[seg].step = steps;
        }
        self.centre_cls.write_f32(&e.ctx, &st.centre_cls)?;
        self.centre_query.write_f32(&e.ctx, &st.centre_query)?;
        self.step = st.step;
        self.health.reset(e)
    }
}
