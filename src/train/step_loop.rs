//! The loop of `train`: a turn per batch (`turn::Turn`: the step, its health check and
//! figures, shared with the browser's session), then what the turn says is due: the metrics
//! line, k-NN of teacher and student, a checkpoint; progress on a bar or, where stderr is not a terminal, as plain lines; the stop
//! on Ctrl-C / SIGTERM or after `--stop-after`. `run` sets up everything around it.

use super::batcher::Prefetcher;
use super::config::TrainConfig;
use super::data_parallel::{mean_report, GradientExchange};
use super::metrics_line::{knn_metrics, step_metrics, Throughput};
use super::micro_batch::MicroBatches;
use super::monitor::LiveKnn;
use super::run_dir::{MetricsLog, Verbosity};
use super::saver::Saver;
use super::schedule::Plan;
use super::step_once::{Ranks, StepFigures};
use super::turn::{Cadence, Turn};
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::spec::batch::{StepHyper, StepReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The progress bar (hidden when quiet), at the run's first step.
pub(super) fn progress_bar(verbosity: Verbosity, total: usize, first: usize) -> ProgressBar {
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
pub(super) struct LoopContext<'a> {
    pub(super) e: &'a Engine,
    pub(super) tc: &'a TrainConfig,
    pub(super) plan: &'a Plan,
    pub(super) saver: &'a Saver<'a>,
    pub(super) bar: &'a ProgressBar,
    /// Rank 0's k-NN monitor and floor (None elsewhere, or without `--eval-every`).
    pub(super) monitor: Option<&'a LiveKnn>,
    /// The global batch.
    pub(super) batch: usize,
    /// Micro-batches per step on each rank.
    pub(super) micro_batches: usize,
    /// A plain line per metrics step on stderr, where the progress bar is not drawn.
    pub(super) plain_log: bool,
}

/// What the loop leaves for the outcome.
pub(super) struct LoopEnd {
    pub(super) started: Instant,
    pub(super) skipped: usize,
    pub(super) last_loss: Option<f64>,
    pub(super) interrupted: bool,
    pub(super) exchange: Duration,
}

/// The metrics line of a logging step (every rank takes part in the loss average; rank 0 writes).
fn log_step(
    ctx: &LoopContext,
    step: &AdclrStep,
    (s, h, figures): (usize, &StepHyper, StepFigures),
    t: &Throughput,
    metrics: &mut Option<MetricsLog>,
) -> Result<f64> {
    let r = mean_report(ctx.saver.coll, figures.report)?;
    let epoch = s / ctx.plan.steps_per_epoch;
    if let Some(m) = metrics {
        let mut line = step_metrics(ctx.e, step, (&r, figures.loss_scale), h, (s, epoch), t)?;
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
pub(super) fn run_steps(
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
    // Health is settled over the ranks, rewinding to the state on disk after a failure.
    let settle = |st: &mut AdclrStep, checked: Result<()>| ctx.saver.settle(st, checked);
    let turn =
        Turn { e: ctx.e, tc: ctx.tc, plan: ctx.plan, cadence: Cadence::of_train(ctx.tc, ctx.plan), settle: &settle };
    while let Some(batch) = pre.next_batch() {
        let batch = batch.map_err(Error::Data)?;
        if coll.is_root() {
            warn_skipped(ctx.bar, &batch.skipped, &mut warned);
        }
        skipped += batch.skipped.len();
        let s = batch.step;
        let ranks = Ranks { gradients: &mut gradients, coll };
        let turned = pollster::block_on(turn.take(step, (s, &batch.inputs), &mut micro, Some(ranks)))?;
        exchange += turned.exchange;
        done_here += 1;
        if let Some(figures) = turned.figures {
            let elapsed = started.elapsed().as_secs_f64().max(1e-9);
            let t = Throughput {
                images_per_s: (done_here * ctx.batch) as f64 / elapsed,
                data_wait_share: pre.waited.as_secs_f64() / elapsed,
                skipped_images: skipped,
                exchange_share: exchange.as_secs_f64() / elapsed,
                eta_s: elapsed / done_here as f64 * (ctx.plan.total_steps - s - 1) as f64,
            };
            last_loss = Some(log_step(ctx, step, (s, &turned.h, figures), &t, metrics)?);
        }
        if let (true, Some(live), Some(log)) = (turned.due.knn, ctx.monitor, metrics.as_mut()) {
            ctx.bar.set_message(format!("k-NN of teacher and student at step {}", s + 1));
            let point = pollster::block_on(live.measure(ctx.e, step, true))?;
            let (line, said) = knn_metrics(&point, s + 1);
            log.write(&line)?;
            ctx.bar.suspend(|| eprintln!("{said}"));
        }
        ctx.bar.set_position((s + 1) as u64);
        if turned.due.checkpoint {
            ctx.saver.save(step)?;
        }
        let stop = INTERRUPTED.load(Ordering::SeqCst) || stop_after.is_some_and(|n| done_here >= n);
        if coll.any(stop)? {
            interrupted = !turned.due.last;
            break;
        }
    }
    Ok(LoopEnd { started, skipped, last_loss, interrupted, exchange })
}
