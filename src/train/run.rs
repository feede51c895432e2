//! The training loop: data workers ahead of the GPU, one ADCLR step per batch, progress,
//! metrics every N steps, atomic checkpoints (every N steps, at the end, on Ctrl-C or SIGTERM), resume.

use super::batcher::{BatchMaker, Prefetcher, Shard};
use super::config::TrainConfig;
use super::data_parallel::{average_centres, mean_report, share_settings, share_state, GradientExchange};
use super::micro_batch::{build_step, MicroBatches};
use super::monitor::{with_floor, KnnMonitor};
use super::resume::{truncate_metrics, ResumeFrom};
use super::run_dir::{open_run_dir, resumed_state, settings_and_dir, MetricsLog};
pub use super::run_dir::{Verbosity, CHECKPOINT, CONFIG, LOSS_PNG, METRICS};
use super::schedule::{hyper, run_length, Plan};
use crate::checkpoint;
use crate::data::dataset::{Dataset, Split};
use crate::data::normalization::{normalization_for, Normalization};
use crate::dist::launch::Launch;
use crate::dist::{Collective, SingleProcess};
use crate::error::{Error, Result};
use crate::eval::knn::KnnResult;
use crate::figures::curves::{training_curves, CurvePoint};
use crate::fs::write_atomic;
use crate::gpu::context::choice_for_rank;
use crate::gpu::Engine;
use crate::model::step::{AdclrStep, Flat};
use crate::spec::batch::{StepHyper, StepReport};
use crate::spec::config::AdclrConfig;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set by Ctrl-C, SIGTERM or SIGHUP: the loop writes a checkpoint and stops.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C, SIGTERM and SIGHUP set `INTERRUPTED` instead of ending the process, so that
/// a training (or an ablation's current training) writes its checkpoint and stops. The CLI
/// calls it once; a library user who wants the same calls it too. A browser has no signals.
pub fn stop_on_signals() {
    #[cfg(not(target_arch = "wasm32"))]
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

pub struct TrainOutcome {
    pub run_dir: PathBuf,
    pub steps_done: usize,
    pub total_steps: usize,
    pub final_loss: Option<f64>,
    pub interrupted: bool,
    pub skipped_images: usize,
    pub data_wait_share: f64,
    /// Share of the loop's time spent reading, combining and writing gradients (0 alone).
    pub exchange_share: f64,
}

/// Where a run's state is written, and the health checks that decide whether it may be.
struct Saver<'a> {
    e: &'a Engine,
    tc: &'a TrainConfig,
    cfg: &'a AdclrConfig,
    norm: &'a Normalization,
    total_steps: usize,
    run_dir: &'a Path,
    /// The ranks: health is decided together, only rank 0 writes.
    coll: &'a dyn Collective,
    /// The step of the state on disk (the last healthy one), for messages after a failure.
    saved_step: Cell<Option<u64>>,
}

impl Saver<'_> {
    fn path(&self) -> PathBuf {
        self.run_dir.join(CHECKPOINT)
    }

    fn on_disk(&self) -> String {
        match self.saved_step.get() {
            Some(s) => format!("{} holds the last healthy state (step {s})", self.path().display()),
            None => "nothing was saved".to_string(),
        }
    }

    /// Writes the step's state, never a non-finite one (rank 0; the others hold the same).
    fn save(&self, step: &AdclrStep) -> Result<()> {
        if !self.coll.is_root() {
            self.saved_step.set(Some(step.step));
            return Ok(());
        }
        let extra = vec![
            ("config".to_string(), self.tc.to_toml()),
            ("total_steps".to_string(), self.total_steps.to_string()),
            ("seed".to_string(), self.tc.seed.to_string()),
        ];
        let state = step.state(self.e, self.tc.seed)?;
        if let Some(name) = state.first_non_finite() {
            let term = format!("`{name}` (nothing written)");
            return Err(Error::NonFinite { step: state.step, term, kept: self.on_disk() });
        }
        checkpoint::save_training(&self.path(), &self.cfg.model, self.norm, &extra, &state)?;
        self.saved_step.set(Some(state.step));
        Ok(())
    }

    /// The health check; after a failure, back to the state before the failing step, written
    /// to disk when it is finite, and the error says which file holds the last healthy state.
    fn healthy(&self, step: &mut AdclrStep) -> Result<()> {
        let local = step.check_health(self.e);
        if self.coll.ranks() == 1 {
            return self.after_check(step, local);
        }
        // Every rank stops at a failure of any: the first failing rank is named.
        let failed_at = match &local {
            Err(Error::NonFinite { step, .. }) => *step,
            _ => 0,
        };
        let all = self.coll.gather_u64(failed_at)?;
        let result = match (&local, all.iter().position(|&s| s > 0)) {
            (Ok(()), Some(rank)) => {
                let term = format!("a loss term or gradient on rank {rank}");
                Err(Error::NonFinite { step: all[rank], term, kept: self.on_disk() })
            }
            _ => self.after_check(step, local),
        };
        // Rank 0 has now written the state before the failure; only then may a rank end
        // (mpirun ends the whole job when one rank exits with an error).
        if all.iter().any(|&s| s > 0) {
            self.coll.any(false)?;
        }
        result
    }

    /// After a failed check: the state before the failing step, written (rank 0) when finite.
    fn after_check(&self, step: &mut AdclrStep, local: Result<()>) -> Result<()> {
        match local {
            Err(Error::NonFinite { step: failed, term, .. }) => {
                step.rewind_before(failed);
                let kept = match self.save(step) {
                    Ok(()) => format!(
                        "The state before that step is saved: {}. Continue from it with a lower learning \
                         rate: edit lr in {}, then adclr-wgpu train --resume {} --force",
                        self.on_disk(),
                        self.run_dir.join(CONFIG).display(),
                        self.run_dir.display()
                    ),
                    Err(_) => format!(
                        "The update overflowed, so the state in memory is not finite; {}. Lower the learning rate",
                        self.on_disk()
                    ),
                };
                Err(Error::NonFinite { step: failed, term, kept })
            }
            other => other,
        }
    }
}

/// The progress bar (hidden when quiet), at the run's first step.
fn progress_bar(verbosity: Verbosity, total: usize, first: usize) -> ProgressBar {
    let bar = match verbosity {
        Verbosity::Progress => ProgressBar::new(total as u64),
        Verbosity::Quiet => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(first as u64);
    bar
}

/// What a metrics line reports besides the step's own values.
struct Throughput {
    images_per_s: f64,
    data_wait_share: f64,
    skipped_images: usize,
    exchange_share: f64,
    /// Seconds to the end of the run at this call's pace.
    eta_s: f64,
}

/// The metrics line of step `s` (0-based) just run: loss terms, schedules, teacher entropy,
/// centre norms, speed.
fn step_metrics(
    e: &Engine,
    step: &AdclrStep,
    r: &StepReport,
    h: &StepHyper,
    (s, epoch): (usize, usize),
    t: &Throughput,
) -> Result<serde_json::Value> {
    let k = step.cfg.model.out_dim;
    let probs = step.global_loss.teacher_probs.read_f32(&e.ctx)?;
    let entropy = mean_entropy(&probs, k);
    let norm_of = |v: Vec<f32>| v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
    // The query term's teacher: how sharp, and over how many prototypes its rows' modes spread
    // (1: every query token of the batch on one prototype, a collapse the loss alone hides).
    // The batch-mean teacher distribution's entropy: near ln K when the batch spreads over the
    // prototypes, near 0 when every row puts its mass on the same few (collapse).
    let (query_entropy, query_modes, query_mean_entropy) = match &step.query_loss {
        Some(q) => {
            let p = q.teacher_probs.read_f32(&e.ctx)?;
            (json!(mean_entropy(&p, k)), json!(distinct_modes(&p, k)), json!(batch_mean_entropy(&p, k)))
        }
        None => (serde_json::Value::Null, serde_json::Value::Null, serde_json::Value::Null),
    };
    // f16-mixed: the dynamic loss scale for the next step and the steps skipped so far.
    let (loss_scale, skipped_steps) = match step.loss_scaler(e)? {
        Some(l) => (json!(l.scale), json!(l.skipped)),
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    Ok(json!({
        "step": s + 1,
        "epoch": epoch,
        "loss": r.loss,
        "global_loss": r.global_loss,
        "query_loss": r.query_loss,
        "lr": h.lr,
        "weight_decay": h.weight_decay,
        "teacher_momentum": h.teacher_momentum,
        "teacher_temp": h.teacher_temp,
        "teacher_query_temp": h.teacher_query_temp,
        "teacher_entropy": entropy,
        "teacher_entropy_query": query_entropy,
        "teacher_batch_entropy": batch_mean_entropy(&probs, k),
        "teacher_batch_entropy_query": query_mean_entropy,
        "teacher_modes": distinct_modes(&probs, k),
        "teacher_modes_query": query_modes,
        "kl_teacher_student": r.global_loss - entropy,
        "centre_norm_cls": norm_of(step.centre_cls.read_f32(&e.ctx)?),
        "centre_norm_query": norm_of(step.centre_query.read_f32(&e.ctx)?),
        "images_per_s": t.images_per_s,
        "data_wait_share": t.data_wait_share,
        "skipped_images": t.skipped_images,
        "loss_scale": loss_scale,
        "skipped_steps": skipped_steps,
    }))
}

/// Mean entropy (nats) of the probability rows [rows, k].
fn mean_entropy(probs: &[f32], k: usize) -> f64 {
    let rows = (probs.len() / k.max(1)).max(1);
    probs.iter().filter(|&&p| p > 0.0).map(|&p| -(p as f64) * (p as f64).ln()).sum::<f64>() / rows as f64
}

/// Entropy (nats) of the mean of the probability rows [rows, k]: how many prototypes the batch
/// uses together (exp of it), where `mean_entropy` tells how sharp each row is.
fn batch_mean_entropy(probs: &[f32], k: usize) -> f64 {
    let k = k.max(1);
    let rows = (probs.len() / k).max(1);
    let mut mean = vec![0f64; k];
    for row in probs.chunks(k) {
        row.iter().zip(mean.iter_mut()).for_each(|(&p, m)| *m += p as f64 / rows as f64);
    }
    mean.iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum()
}

/// How many different prototypes are the most probable one of some row [rows, k].
fn distinct_modes(probs: &[f32], k: usize) -> usize {
    let mut modes: Vec<usize> = probs
        .chunks(k.max(1))
        .map(|row| (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0))
        .collect();
    modes.sort_unstable();
    modes.dedup();
    modes.len()
}

/// k-NN of teacher and student after `steps` steps, with the floor: its metrics line, and
/// the line the progress shows.
fn knn_metrics(
    e: &Engine,
    step: &AdclrStep,
    m: &KnnMonitor,
    floor: &KnnResult,
    steps: usize,
) -> Result<(serde_json::Value, String)> {
    let teacher = m.evaluate(e, step.backbone_weights(e, Flat::Teacher)?)?;
    let student = m.evaluate(e, step.backbone_weights(e, Flat::Student)?)?;
    let line = json!({
        "step": steps, "knn_teacher_top1": teacher.top1, "knn_student_top1": student.top1,
        "knn_floor_top1": floor.top1, "knn_teacher_top5": teacher.top5, "knn_student_top5": student.top5,
        "knn_bank": teacher.bank, "knn_queries": teacher.queries,
    });
    let said = format!("step {steps}: k-NN teacher {}, student {:.1}%", with_floor(&teacher, floor), student.top1);
    Ok((line, said))
}

/// The k-NN monitor and the floor (k-NN of the initial teacher), logged at step 0 of a fresh run.
fn start_monitor(
    e: &Engine,
    tc: &TrainConfig,
    cfg: &AdclrConfig,
    norm: &Normalization,
    metrics: &mut MetricsLog,
    bar: &ProgressBar,
    first: usize,
) -> Result<(KnnMonitor, KnnResult)> {
    let m = KnnMonitor::open(&tc.data, tc.eval_bank, &cfg.model, norm, "--eval-every 0")?;
    bar.set_message("k-NN of the initial teacher (the random-init floor)");
    let f = m.floor(e, tc.seed)?;
    if first == 0 {
        metrics.write(&json!({
            "step": 0, "knn_teacher_top1": f.top1, "knn_student_top1": f.top1, "knn_floor_top1": f.top1,
            "knn_bank": f.bank, "knn_queries": f.queries,
        }))?;
    }
    Ok((m, f))
}

/// Warns about the first few unreadable images of the run.
fn warn_skipped(bar: &ProgressBar, skipped: &[String], warned: &mut usize) {
    for s in skipped {
        if *warned < 5 {
            bar.suspend(|| eprintln!("warning: skipped {s}"));
        }
        *warned += 1;
    }
}

/// What the loop needs besides the step, the batches and the metrics log.
struct LoopContext<'a> {
    e: &'a Engine,
    tc: &'a TrainConfig,
    plan: &'a Plan,
    saver: &'a Saver<'a>,
    bar: &'a ProgressBar,
    /// Rank 0's k-NN monitor and floor (None elsewhere, or without `--eval-every`).
    monitor: Option<&'a (KnnMonitor, KnnResult)>,
    /// The global batch.
    batch: usize,
    /// Micro-batches per step on each rank.
    micro_batches: usize,
    /// A plain line per metrics step on stderr, where the progress bar is not drawn.
    plain_log: bool,
}

/// What the loop leaves for the outcome.
struct LoopEnd {
    started: Instant,
    skipped: usize,
    last_loss: Option<f64>,
    interrupted: bool,
    exchange: Duration,
}

/// One optimisation step on every rank: forward and backward on this rank's shard (in
/// micro-batches when `inputs` holds several), the gradients averaged over the ranks, the
/// update, the centres averaged. Returns the time of the gradient exchange, and the loss
/// terms when micro-batches averaged them.
fn train_step(
    ctx: &LoopContext,
    step: &mut AdclrStep,
    (gradients, micro): (&mut GradientExchange, &mut Option<MicroBatches>),
    inputs: &[crate::spec::batch::StepInput],
    h: &StepHyper,
) -> Result<(Duration, Option<StepReport>)> {
    let coll = ctx.saver.coll;
    let report = match (micro, inputs) {
        (_, [one]) => {
            step.forward_backward(ctx.e, one, h)?;
            None
        }
        (Some(m), several) => Some(m.forward_backward(ctx.e, step, several, h)?),
        (None, _) => return Err(Error::Data("a step of several micro-batches without their sums".into())),
    };
    let exchange = gradients.average(ctx.e, step, coll)?;
    match report {
        None => step.update(ctx.e)?,
        Some(_) => step.update_parameters(ctx.e)?,
    }
    average_centres(ctx.e, step, coll)?;
    Ok((exchange, report))
}

/// The metrics line of a logging step (every rank takes part in the loss average; rank 0 writes).
fn log_step(
    ctx: &LoopContext,
    step: &mut AdclrStep,
    (s, h, report): (usize, &StepHyper, Option<StepReport>),
    t: &Throughput,
    metrics: &mut Option<MetricsLog>,
) -> Result<f64> {
    let report = match report {
        Some(r) => r,
        None => step.report(ctx.e)?,
    };
    let r = mean_report(ctx.saver.coll, report)?;
    ctx.saver.healthy(step)?;
    let epoch = s / ctx.plan.steps_per_epoch;
    if let Some(m) = metrics {
        let mut line = step_metrics(ctx.e, step, &r, h, (s, epoch), t)?;
        if ctx.saver.coll.ranks() > 1 {
            line["ranks"] = json!(ctx.saver.coll.ranks());
            line["exchange_share"] = json!(t.exchange_share);
        }
        m.write(&line)?;
    }
    ctx.bar.set_message(format!("epoch {epoch} loss {:.4} lr {:.2e} {:.1} img/s", r.loss, h.lr, t.images_per_s));
    if ctx.plain_log {
        eprintln!("{}", plain_line(s + 1, ctx.plan.total_steps, &r, h.lr, t));
    }
    Ok(r.loss)
}

/// The log line of a step where no progress bar is drawn (stderr not a terminal: nohup, a
/// batch job, a pipe): "step 10/24 loss 9.1234 (global 8.9000, query 0.6468) lr 1.95e-06
/// 12.3 img/s ETA 0:01:23".
fn plain_line(step: usize, total: usize, r: &StepReport, lr: f64, t: &Throughput) -> String {
    let eta = t.eta_s.max(0.0).round() as u64;
    format!(
        "step {step}/{total} loss {:.4} (global {:.4}, query {:.4}) lr {lr:.2e} {:.1} img/s ETA {}:{:02}:{:02}",
        r.loss,
        r.global_loss,
        r.query_loss,
        t.images_per_s,
        eta / 3600,
        eta / 60 % 60,
        eta % 60
    )
}

/// The loop proper: a step per batch; metrics, k-NN and checkpoints when due; stops at the
/// end of the run, on Ctrl-C / SIGTERM (on any rank: every rank stops at the same step), or
/// after `stop_after` steps of this call.
fn run_steps(
    ctx: &LoopContext,
    step: &mut AdclrStep,
    pre: &mut Prefetcher,
    metrics: &mut Option<MetricsLog>,
    stop_after: Option<usize>,
) -> Result<LoopEnd> {
    let started = Instant::now();
    let (mut skipped, mut warned, mut last_loss, mut interrupted) = (0usize, 0usize, None, false);
    let (mut done_here, mut exchange) = (0usize, Duration::ZERO);
    let coll = ctx.saver.coll;
    let mut gradients = GradientExchange::new(ctx.e, step, coll);
    let mut micro = (ctx.micro_batches > 1).then(|| MicroBatches::new(ctx.e, step));
    while let Some(batch) = pre.next_batch() {
        let batch = batch.map_err(Error::Data)?;
        if coll.is_root() {
            warn_skipped(ctx.bar, &batch.skipped, &mut warned);
        }
        skipped += batch.skipped.len();
        let s = batch.step;
        let h = hyper(ctx.tc, ctx.plan, s);
        let (spent, report) = train_step(ctx, step, (&mut gradients, &mut micro), &batch.inputs, &h)?;
        exchange += spent;
        done_here += 1;
        let last = s + 1 == ctx.plan.total_steps;
        if (s + 1) % ctx.tc.log_every == 0 || last {
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            let t = Throughput {
                images_per_s: (done_here * ctx.batch) as f64 / elapsed,
                data_wait_share: pre.waited.as_secs_f64() / elapsed,
                skipped_images: skipped,
                exchange_share: exchange.as_secs_f64() / elapsed,
                eta_s: elapsed / done_here as f64 * (ctx.plan.total_steps - s - 1) as f64,
            };
            last_loss = Some(log_step(ctx, step, (s, &h, report), &t, metrics)?);
        }
        if ctx.tc.eval_every > 0 && ((s + 1) % ctx.tc.eval_every == 0 || last) {
            ctx.saver.healthy(step)?;
            if let (Some((m, floor)), Some(log)) = (ctx.monitor, metrics.as_mut()) {
                ctx.bar.set_message(format!("k-NN of teacher and student at step {}", s + 1));
                let (line, said) = knn_metrics(ctx.e, step, m, floor, s + 1)?;
                log.write(&line)?;
                ctx.bar.suspend(|| eprintln!("{said}"));
            }
        }
        ctx.bar.set_position((s + 1) as u64);
        if ctx.tc.checkpoint_every > 0 && (s + 1) % ctx.tc.checkpoint_every == 0 && !last {
            ctx.saver.healthy(step)?;
            ctx.saver.save(step)?;
        }
        let stop = INTERRUPTED.load(Ordering::SeqCst) || stop_after.is_some_and(|n| done_here >= n);
        if coll.any(stop)? {
            interrupted = !last;
            break;
        }
    }
    Ok(LoopEnd { started, skipped, last_loss, interrupted, exchange })
}

/// Trains per `tc` (or continues the run in `resume`). `stop_after` ends the loop after that
/// many steps of this call as if interrupted (tests use it to cut a run short).
pub fn train(
    tc: TrainConfig,
    resume: Option<ResumeFrom>,
    verbosity: Verbosity,
    stop_after: Option<usize>,
) -> Result<TrainOutcome> {
    train_ranks(tc, resume, verbosity, stop_after, &SingleProcess, &Launch::ALONE)
}

/// The device of this rank (the adapter `local_rank mod n` of the best kind, unless
/// `--adapter` names one).
fn open_engine(tc: &TrainConfig, coll: &dyn Collective, launch: &Launch) -> Result<Engine> {
    let choice = tc.adapter_choice();
    let choice = match coll.ranks() {
        1 => choice,
        _ => choice_for_rank(&choice, launch.local_rank)?,
    };
    Engine::open_at(&choice, tc.precision().map_err(Error::Data)?)
}

/// The global configuration and this rank's share of it: `--batch` is the global batch,
/// which the ranks split evenly.
fn configs(tc: &TrainConfig, coll: &dyn Collective) -> Result<(AdclrConfig, Shard, AdclrConfig)> {
    let global = tc.adclr().map_err(Error::Data)?;
    let n = coll.ranks();
    if global.batch % n != 0 {
        return Err(Error::Data(format!(
            "--batch {} (the global batch) does not split evenly over {n} ranks: use a multiple of {n}",
            global.batch
        )));
    }
    let shard = Shard { rank: coll.rank(), ranks: n };
    let local = shard.local(&global);
    Ok((global, shard, local))
}

/// Every rank takes the state of the run directory's checkpoint, which rank 0 reads (and
/// whose later metrics lines it drops).
fn resume_from(
    e: &Engine,
    step: &mut AdclrStep,
    coll: &dyn Collective,
    (run_dir, r): (&Path, ResumeFrom),
    (global, tc): (&AdclrConfig, &TrainConfig),
) -> Result<()> {
    let state = match coll.is_root() {
        true => Some(resumed_state(&run_dir.join(CHECKPOINT), global, tc, r)?),
        false => None,
    };
    share_state(e, step, coll, state)?;
    if coll.is_root() {
        truncate_metrics(&run_dir.join(METRICS), step.step)?;
    }
    Ok(())
}

/// What the run is about to do: data, model, device, ranks, micro-batches, memory, kernels,
/// schedule adjustments.
fn announce(
    tc: &TrainConfig,
    coll: &dyn Collective,
    e: &Engine,
    step: &AdclrStep,
    plan: &Plan,
    ds: &Dataset,
    micro_batches: usize,
) {
    let per_rank = step.cfg.batch * micro_batches;
    let ranks = match coll.ranks() {
        1 => String::new(),
        n => format!(" x {n} ranks ({per_rank} images each per step)"),
    };
    eprintln!(
        "adclr-wgpu: {} images from {}, {} on {}{ranks}",
        ds.len(),
        ds.origin,
        step.cfg.model.preset,
        e.ctx.describe()
    );
    if micro_batches > 1 {
        let why = if tc.micro_batch == 0 { ", for the device's binding limit" } else { "" };
        eprintln!(
            "micro-batches: {micro_batches} of {} images per step{why} (gradients averaged: the same step in less memory)",
            step.cfg.batch
        );
    }
    eprintln!("memory plan: {}\nkernels: {}", step.plan.summary(), e.kernel_summary());
    eprintln!("run length: {}", run_length(tc, plan.steps_per_epoch).why);
    if step.step > 0 {
        eprintln!("resuming at step {} of {}", step.step, plan.total_steps);
    }
    plan.adjustments(tc).iter().for_each(|note| eprintln!("schedule: {note}"));
}

/// The training split, with at least one global batch of images.
fn open_dataset(tc: &TrainConfig, batch: usize) -> Result<Dataset> {
    let ds = Dataset::open(&tc.data, Split::Train).map_err(Error::Data)?;
    if ds.len() < batch {
        let (origin, n) = (&ds.origin, ds.len());
        return Err(Error::Data(format!("{origin}: {n} images, but --batch {batch} needs at least that many")));
    }
    Ok(ds)
}

fn outcome(step: &AdclrStep, plan: &Plan, end: &LoopEnd, pre: &Prefetcher, run_dir: PathBuf) -> TrainOutcome {
    let elapsed = end.started.elapsed().as_secs_f64().max(1e-9);
    TrainOutcome {
        steps_done: step.step as usize,
        total_steps: plan.total_steps,
        final_loss: end.last_loss,
        interrupted: end.interrupted,
        skipped_images: end.skipped,
        data_wait_share: pre.waited.as_secs_f64() / elapsed,
        exchange_share: end.exchange.as_secs_f64() / elapsed,
        run_dir,
    }
}

/// A fresh run's config.toml: its settings with every resolved value, under comments that say
/// how long the run is and what its length changed in the schedules (`Plan`, which derives
/// both from these settings again).
fn config_file(tc: &TrainConfig, plan: &Plan) -> String {
    let mut head = format!(
        "# The settings of this run as it ran (adclr-wgpu train --config this-file reproduces it).\n# run length: {}\n",
        run_length(tc, plan.steps_per_epoch).why
    );
    for note in plan.adjustments(tc) {
        head.push_str(&format!("# schedule: {note}\n"));
    }
    head + &tc.to_toml()
}

/// `train` as one of `coll.ranks()` data-parallel ranks (`mpirun -np N adclr-wgpu train`):
/// every rank builds the same model from the same seed and trains on its shard of every
/// global batch; rank 0 alone reads and writes the run directory and evaluates.
pub fn train_ranks(
    tc: TrainConfig,
    resume: Option<ResumeFrom>,
    verbosity: Verbosity,
    stop_after: Option<usize>,
    coll: &dyn Collective,
    launch: &Launch,
) -> Result<TrainOutcome> {
    let root = coll.is_root();
    let verbosity = if root { verbosity } else { Verbosity::Quiet };
    let settled = if root { Some(settings_and_dir(tc, resume)?) } else { None };
    let (tc, run_dir) = share_settings(coll, settled)?;
    let (global, shard, cfg) = configs(&tc, coll)?;
    let ds = open_dataset(&tc, global.batch)?;
    // A fresh run records the values it resolves (sizes, drop-path, the run length), so that
    // its config.toml alone reproduces it; a resumed run keeps its directory's as written.
    let tc = match resume {
        None => tc.effective().map_err(Error::Data)?,
        Some(_) => tc,
    };
    let plan = Plan::new(&tc, ds.len());
    // Before anything in the directory is read or written: a second training of it stops here.
    let _lock = match root {
        true => Some(open_run_dir(&run_dir, resume.is_none().then(|| config_file(&tc, &plan)).as_deref(), verbosity)?),
        false => None,
    };
    let e = open_engine(&tc, coll, launch)?;
    let (mut step, micro_batches) = build_step(&e, &cfg, tc.seed, tc.micro_batch)?;
    let norm = normalization_for(&tc.data);
    if let Some(r) = resume {
        resume_from(&e, &mut step, coll, (&run_dir, r), (&global, &tc))?;
    }
    let first = step.step as usize;
    if verbosity == Verbosity::Progress {
        announce(&tc, coll, &e, &step, &plan, &ds, micro_batches);
    }
    let workers = match tc.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let maker = BatchMaker {
        cfg: global.clone(),
        train: tc.clone(),
        norm: norm.clone(),
        steps_per_epoch: plan.steps_per_epoch,
        shard,
        micro_batches,
    };
    let mut pre = Prefetcher::start(maker, Arc::new(ds), first, plan.total_steps, workers);
    let bar = progress_bar(verbosity, plan.total_steps, first);
    let mut metrics = match (root, resume.is_some()) {
        (false, _) => None,
        (true, false) => Some(MetricsLog::open(&run_dir)?),
        (true, true) => Some(MetricsLog::open_resumed(&run_dir, first)?),
    };
    let saved_step = Cell::new(resume.map(|_| step.step));
    let total_steps = plan.total_steps;
    let saver = Saver { e: &e, tc: &tc, cfg: &global, norm: &norm, total_steps, run_dir: &run_dir, coll, saved_step };
    // A fresh run writes its initial state at once: a failure before the first periodic
    // checkpoint still leaves a finite state on disk.
    if resume.is_none() {
        saver.save(&step)?;
    }
    // k-NN during the run (rank 0): the floor first (the initial teacher), then every --eval-every steps.
    let monitor = match (tc.eval_every, metrics.as_mut()) {
        (0, _) | (_, None) => None,
        (_, Some(m)) => Some(start_monitor(&e, &tc, &cfg, &norm, m, &bar, first)?),
    };
    let ctx = LoopContext {
        e: &e,
        tc: &tc,
        plan: &plan,
        saver: &saver,
        bar: &bar,
        monitor: monitor.as_ref(),
        batch: global.batch,
        micro_batches,
        plain_log: verbosity == Verbosity::Progress && !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let end = run_steps(&ctx, &mut step, &mut pre, &mut metrics, stop_after)?;
    saver.healthy(&mut step)?;
    saver.save(&step)?;
    bar.finish_and_clear();
    if root {
        write_loss_png(&run_dir)?;
    }
    Ok(outcome(&step, &plan, &end, &pre, run_dir))
}

/// Draws loss.png from metrics.jsonl: the loss terms, and k-NN with its floor when measured.
pub fn write_loss_png(run_dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(run_dir.join(METRICS)).unwrap_or_default();
    let points: Vec<CurvePoint> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| CurvePoint::from_json(&v))
        .collect();
    let png = training_curves(&points).map_err(|e| Error::Data(format!("loss.png: {e}")))?;
    write_atomic(&run_dir.join(LOSS_PNG), &png)
}

#[cfg(test)]
mod tests {
    use super::{batch_mean_entropy, distinct_modes, mean_entropy};

    #[test]
    fn query_teacher_monitors_tell_a_collapse_from_spread_sharp_rows() {
        // Three rows over 4 prototypes: two one-hot on prototype 2, one uniform.
        let probs = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.25, 0.25, 0.25, 0.25];
        assert!((mean_entropy(&probs, 4) - 4f64.ln() / 3.0).abs() < 1e-6);
        // The uniform row's mode is another prototype (ties go to the last): two modes in all.
        assert_eq!(distinct_modes(&probs, 4), 2);
        assert_eq!(distinct_modes(&probs[..8], 4), 1, "both sharp rows on one prototype: collapsed");
        // Batch mean [1/12, 1/12, 3/4, 1/12]: its entropy, whatever the rows' own sharpness.
        let want = -(3.0 * (1.0 / 12f64) * (1.0 / 12f64).ln() + 0.75 * 0.75f64.ln());
        assert!((batch_mean_entropy(&probs, 4) - want).abs() < 1e-6);
        // Sharp rows on different prototypes use the batch fully (ln 2); on one, not at all.
        let spread = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        assert!((batch_mean_entropy(&spread, 4) - 2f64.ln()).abs() < 1e-6);
        assert!(batch_mean_entropy(&probs[..8], 4).abs() < 1e-9);
    }
}
