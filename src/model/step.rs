//! One complete ADCLR optimisation step on the GPU (ADCLR.md): teacher forward on the global
//! views, student forward on global and local views, the multi-crop global loss plus lambda
//! times the query loss (each with its centre), backward through head and backbone,
//! per-tensor clipping, AdamW, EMA teacher and centre updates. Everything is planned and
//! recorded at start-up; a step writes its inputs and schedules and submits three phases
//! (forward, backward, update) without reading anything back.

use super::backbone::Group;
use super::head::Head;
use super::params::ParamViews;
use super::step_build as build;
pub use super::step_build::{ChunkBuffers, CODE_GLOBAL_LOSS, CODE_GRADIENTS, CODE_QUERY_LOSS, CODE_STATE};
use crate::error::{shape_error, Error, Result};
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor, MemoryPlan};
use crate::ops::dino::DinoLoss;
use crate::ops::elementwise;
use crate::ops::health::{Health, HealthState};
use crate::ops::loss_scale::{LossScale, LossScaler};
use crate::ops::optim::{ema_params, AdamW, Optimizer};
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use crate::spec::config::AdclrConfig;
use crate::spec::params::ParamStore;

/// Which flat set to read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flat {
    Student,
    Teacher,
    Grads,
    AdamM,
    AdamV,
}

/// Below this loss scale (2^16 halved 26 times with no clean run between) training stops.
pub const MIN_LOSS_SCALE: f32 = 1.0 / 1024.0;
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
    /// The dynamic loss scale (f16-mixed; otherwise 1 and never moved).
    pub loss_scale: LossScale,
    /// f16-mixed: the loss gradients times the scale, after the losses' forward.
    scale_loss: Vec<Dispatch>,
    /// f16-mixed: the next scale, after the updates and the skip counts.
    scale_update: Option<Dispatch>,
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
        let (c, off) = store.offset(i);
        v.insert(s.name.clone(), chunks[c].view(&e.ctx, &s.name, off, &s.shape)?);
    }
    Ok(v)
}

/// Records `list` into one command buffer and submits it: (time recording, time in
/// `queue.submit`, where a software driver may execute the work before returning).
fn submit(e: &Engine, list: &[&Dispatch]) -> (std::time::Duration, std::time::Duration) {
    let t = web_time::Instant::now();
    let mut enc = e.ctx.device.create_command_encoder(&Default::default());
    crate::gpu::record(&mut enc, list);
    let commands = enc.finish();
    let encoded = web_time::Instant::now();
    e.ctx.queue.submit([commands]);
    (encoded - t, encoded.elapsed())
}

impl AdclrStep {
    /// Plans and allocates everything, initialises student = teacher (timm/DINO init from
    /// `seed`), and records every phase.
    pub fn new(e: &Engine, cfg: &AdclrConfig, seed: u64) -> Result<Self> {
        cfg.validate().map_err(|m| shape_error("adclr_step", m))?;
        let mut al = Alloc::new(e);
        // Plan: every buffer, each allocated once.
        let (store, chunks) = build::parameters(e, &mut al, cfg, seed)?;
        let groups = build::groups(e, &mut al, cfg)?;
        let heads = build::heads(&mut al, cfg)?;
        let rows = build::row_indices(&mut al, cfg)?;
        let k = cfg.model.out_dim;
        let centres = [al.tensor("centre.cls", &[k])?, al.tensor("centre.query", &[k])?];
        let (global_loss, query_loss) = build::losses(e, &mut al, cfg, &heads, &centres)?;
        // Record: forward, backward and update, once.
        let flat = |f: fn(&ChunkBuffers) -> &GpuTensor| chunks.iter().map(|c| f(c).clone()).collect::<Vec<_>>();
        let student = views(&store, e, &flat(|c| &c.student))?;
        let teacher = views(&store, e, &flat(|c| &c.teacher))?;
        let grads = views(&store, e, &flat(|c| &c.grads))?;
        let forward = build::record_forward(e, cfg, &groups, &heads, &rows, (&student, &teacher))?;
        let zero_grads = chunks.iter().map(|cb| elementwise::fill(e, &cb.grads, 0.0)).collect::<Result<_>>()?;
        let backward = build::record_backward(e, cfg, &groups, &heads, &rows, (&student, &grads))?;
        let losses = (&global_loss, query_loss.as_ref());
        let update = build::record_update(e, &mut al, cfg, (&store, &chunks), losses, &centres)?;
        let [centre_cls, centre_query] = centres;
        let (student_head, teacher_head) = heads;
        Ok(Self {
            cfg: cfg.clone(),
            store,
            chunks,
            centre_cls,
            centre_query,
            student_global: groups.student_global,
            student_local: groups.student_local,
            teacher_global: groups.teacher_global,
            student_head,
            teacher_head,
            global_loss,
            query_loss,
            optimizers: update.optimizers,
            health: update.health,
            loss_scale: update.loss_scale,
            scale_loss: update.scale_loss,
            scale_update: update.scale_update,
            checks: update.checks,
            state_checks: update.state_checks,
            unchecked: Vec::new(),
            ema: update.ema,
            centres: update.centres,
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
        self.forward_backward(e, input, hyper)?;
        self.update(e)
    }

    /// The first part of `run`: writes this step's schedules (the update's too) and starts
    /// the step's counters, then `accumulate_forward_backward` on `input`. The gradients are
    /// then in `Flat::Grads`, where micro-batches and data parallelism combine them before
    /// `update`.
    pub fn forward_backward(&mut self, e: &Engine, input: &StepInput, hyper: &StepHyper) -> Result<()> {
        let ctx = &e.ctx;
        input.validate(&self.cfg).map_err(|m| shape_error("adclr_step", m))?;
        let tau_t = hyper.teacher_temp as f32;
        self.global_loss.set_teacher_temperature(e, tau_t)?;
        if let Some(ql) = &self.query_loss {
            ql.set_teacher_temperature(e, hyper.teacher_query_temp as f32)?;
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
            o.set_step(e, layout, &opt)?;
        }
        for (d, n) in &self.ema {
            d.set_params(ctx, &ema_params(*n, hyper.teacher_momentum as f32))?;
        }
        for (d, n, code) in &self.checks {
            Health::set_step(e, d, *n, *code, self.step + 1)?;
        }
        self.last_host_time = Default::default();
        self.micro_forward_backward(e, input)
    }

    /// Forward and backward of one (micro-)batch under the schedules already written: writes
    /// its views, zeroes the gradients, submits both phases. A step of several micro-batches
    /// calls it once per micro-batch after `forward_backward` (the caller keeps the sum of
    /// their gradients).
    pub fn micro_forward_backward(&mut self, e: &Engine, input: &StepInput) -> Result<()> {
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
        let losses = std::iter::once(&self.global_loss).chain(self.query_loss.iter());
        let forward: Vec<&Dispatch> =
            self.forward.iter().chain(losses.flat_map(|l| l.forward.iter())).chain(&self.scale_loss).collect();
        let t1 = submit(e, &forward);
        let t2 = submit(e, &self.zero_grads.iter().chain(self.backward.iter()).collect::<Vec<_>>());
        self.add_host_time(t1);
        self.add_host_time(t2);
        Ok(())
    }

    fn add_host_time(&mut self, (encode, submit): (std::time::Duration, std::time::Duration)) {
        self.last_host_time = (self.last_host_time.0 + encode, self.last_host_time.1 + submit);
    }

    /// The second part of `run`: `update_parameters`, then the centres from this batch's
    /// teacher outputs.
    pub fn update(&mut self, e: &Engine) -> Result<()> {
        self.update_parameters(e)?;
        self.update_centres(e);
        Ok(())
    }

    /// Clipping, AdamW, the health checks and the EMA teacher from the gradients in
    /// `Flat::Grads`; the step is then taken.
    pub fn update_parameters(&mut self, e: &Engine) -> Result<()> {
        let mut update: Vec<&Dispatch> = Vec::with_capacity(64);
        for o in &self.optimizers {
            update.extend(&o.dispatches[..2]);
        }
        update.extend(self.checks.iter().map(|(d, _, _)| d));
        for o in &self.optimizers {
            update.push(&o.dispatches[2]);
        }
        update.extend(self.ema.iter().map(|(d, _)| d));
        if let Some(scale) = &self.scale_update {
            update.extend(self.optimizers.iter().map(|o| &o.count_skips));
            update.push(scale);
        }
        let t = submit(e, &update);
        self.add_host_time(t);
        self.step += 1;
        Ok(())
    }

    /// The centres' update from the teacher outputs of the last forward: `m c + (1 - m)` their
    /// batch mean (skipped once the health flag is set).
    pub fn update_centres(&mut self, e: &Engine) {
        let t = submit(e, &self.centres.iter().collect::<Vec<_>>());
        self.add_host_time(t);
    }

    /// Every dispatch of a step in submission order (for per-kernel profiling).
    pub fn all_dispatches(&self) -> Vec<&Dispatch> {
        let losses = || std::iter::once(&self.global_loss).chain(self.query_loss.iter());
        let mut v: Vec<&Dispatch> = self.forward.iter().chain(losses().flat_map(|l| l.forward.iter())).collect();
        v.extend(&self.scale_loss);
        v.extend(self.zero_grads.iter().chain(self.backward.iter()));
        for o in &self.optimizers {
            v.extend(&o.dispatches);
        }
        v.extend(self.ema.iter().map(|(d, _)| d));
        if let Some(scale) = &self.scale_update {
            v.extend(self.optimizers.iter().map(|o| &o.count_skips));
            v.push(scale);
        }
        v.extend(&self.centres);
        v
    }

    /// The loss terms of the last step (waits for it).
    pub fn report(&self, e: &Engine) -> Result<StepReport> {
        pollster::block_on(self.report_async(e))
    }

    /// `report` as a future (what a browser awaits).
    pub async fn report_async(&self, e: &Engine) -> Result<StepReport> {
        let global_loss = self.global_loss.loss.read_f32_async(&e.ctx).await?[0] as f64;
        let query_loss = match &self.query_loss {
            Some(q) => q.loss.read_f32_async(&e.ctx).await?[0] as f64,
            None => 0.0,
        };
        Ok(StepReport { loss: global_loss + self.cfg.lambda * query_loss, global_loss, query_loss })
    }

    /// The loss scaler's state under f16-mixed (waits for the last step), None in f32.
    pub fn loss_scaler(&self, e: &Engine) -> Result<Option<LossScaler>> {
        pollster::block_on(self.loss_scaler_async(e))
    }

    /// `loss_scaler` as a future.
    pub async fn loss_scaler_async(&self, e: &Engine) -> Result<Option<LossScaler>> {
        match self.scale_update {
            Some(_) => Ok(Some(self.loss_scale.read_async(e).await?)),
            None => Ok(None),
        }
    }

    /// Ok, or an error naming the step and the term that went NaN/inf (state left as it
    /// was before that step).
    pub fn check_health(&mut self, e: &Engine) -> Result<()> {
        pollster::block_on(self.check_health_async(e))
    }

    /// `check_health` as a future (what a browser awaits).
    pub async fn check_health_async(&mut self, e: &Engine) -> Result<()> {
        // The parameters and moments after the last update join the sticky flag first: an
        // update that overflows (a huge learning rate) is caught at the step that made it.
        for (d, n, code) in &self.state_checks {
            Health::set_step(e, d, *n, *code, self.step)?;
        }
        let mut enc = e.ctx.device.create_command_encoder(&Default::default());
        crate::gpu::record(&mut enc, &self.state_checks.iter().map(|(d, _, _)| d).collect::<Vec<_>>());
        e.ctx.queue.submit([enc.finish()]);
        match self.health.read_async(e).await? {
            HealthState::Ok => {
                self.unchecked.clear();
                self.check_loss_scale(e).await
            }
            HealthState::Failed { code, step } => {
                let term = match code {
                    CODE_GLOBAL_LOSS => "the global (CLS) loss".to_string(),
                    CODE_QUERY_LOSS => "the query loss".to_string(),
                    c if c >= CODE_STATE => self.non_finite_state(e, (c - CODE_STATE) as usize).await?,
                    c => self.non_finite_gradient(e, (c - CODE_GRADIENTS) as usize).await?,
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

    /// Ok unless the loss scale fell below `MIN_LOSS_SCALE`: then the gradients are not finite
    /// at any scale (every step skipped, the state is that of the last good step).
    async fn check_loss_scale(&self, e: &Engine) -> Result<()> {
        match self.loss_scaler_async(e).await? {
            Some(s) if s.scale < MIN_LOSS_SCALE => Err(Error::NonFinite {
                step: self.step,
                term: format!("a gradient at every loss scale down to {:e} ({} steps skipped)", s.scale, s.skipped),
                kept: "Skipped steps change nothing, so the state of the last good step is intact in memory. \
                       Train with --precision f32, or lower the learning rate"
                    .to_string(),
            }),
            _ => Ok(()),
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
    async fn non_finite_state(&self, e: &Engine, index: usize) -> Result<String> {
        let (chunk, which) = (index / 3, STATE_FLATS[index % 3]);
        let what = match which {
            Flat::Student => "the parameters",
            Flat::AdamM => "the first Adam moments",
            _ => "the second Adam moments",
        };
        let flat = self.flat_tensor(&self.chunks[chunk], which).read_f32_async(&e.ctx).await?;
        let layout = &self.store.chunks[chunk];
        let bad = layout.segments.iter().zip(&layout.names).find(|(seg, _)| {
            flat.get(seg.offset..seg.offset + seg.len).is_some_and(|v| v.iter().any(|x| !x.is_finite()))
        });
        Ok(match bad {
            Some((_, name)) => format!("{what} of `{name}` after the update"),
            None => format!("{what} after the update"),
        })
    }

    async fn non_finite_gradient(&self, e: &Engine, chunk: usize) -> Result<String> {
        let clip = self.optimizers[chunk].clip.read_f32_async(&e.ctx).await?;
        let names = &self.store.chunks[chunk].names;
        let bad = (0..names.len()).find(|&i| !clip[4 * i + 1].is_finite());
        Ok(match bad {
            Some(i) => format!("the gradient of `{}`", names[i]),
            None => "a gradient".to_string(),
        })
    }

    pub fn read_flat(&self, e: &Engine, which: Flat) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.read_flat_async(e, which))
    }

    /// `read_flat` as a future.
    pub async fn read_flat_async(&self, e: &Engine, which: Flat) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(self.chunks.len());
        for c in &self.chunks {
            out.push(self.flat_tensor(c, which).read_f32_async(&e.ctx).await?);
        }
        Ok(out)
    }

    /// The backbone tensors (no head) of the student or the teacher, by timm name.
    pub fn backbone_weights(&self, e: &Engine, which: Flat) -> Result<super::state::Named> {
        pollster::block_on(self.backbone_weights_async(e, which))
    }

    /// `backbone_weights` as a future.
    pub async fn backbone_weights_async(&self, e: &Engine, which: Flat) -> Result<super::state::Named> {
        let flats = self.read_flat_async(e, which).await?;
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
    /// Optimizer steps each tensor took: the host's count less the steps it skipped (loss
    /// scaling), as a checkpoint stores them.
    pub fn tensor_steps(&self, e: &Engine) -> Result<Vec<u64>> {
        let skipped = self.optimizers.iter().map(|o| o.skipped_steps(e)).collect::<Result<Vec<_>>>()?;
        Ok((0..self.store.specs.len())
            .map(|i| {
                let (chunk, seg) = self.store.place[i];
                self.store.segment(i).step.saturating_sub(skipped[chunk][seg] as u64)
            })
            .collect())
    }

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
            tensor_steps: self.tensor_steps(e)?,
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
        let flats =
            |named: &super::state::Named| self.store.pack(named).map_err(|m| Error::Checkpoint(format!("state: {m}")));
        self.write_flat(e, Flat::Student, &flats(&st.student)?)?;
        self.write_flat(e, Flat::Teacher, &flats(&st.teacher)?)?;
        self.write_flat(e, Flat::AdamM, &flats(&st.exp_avg)?)?;
        self.write_flat(e, Flat::AdamV, &flats(&st.exp_avg_sq)?)?;
        for (i, &steps) in st.tensor_steps.iter().enumerate() {
            self.store.segment_mut(i).step = steps;
        }
        self.centre_cls.write_f32(&e.ctx, &st.centre_cls)?;
        self.centre_query.write_f32(&e.ctx, &st.centre_query)?;
        for o in &self.optimizers {
            o.clear_skips(e);
        }
        self.loss_scale.reset(e);
        self.step = st.step;
        self.health.reset(e)
    }
}
