//! The training loop: data workers ahead of the GPU, one ADCLR step per batch, progress,
//! metrics every N steps, atomic checkpoints (every N steps, at the end, on Ctrl-C or SIGTERM), resume.

use super::batcher::{BatchMaker, Prefetcher, Shard};
use super::config::TrainConfig;
use super::data_parallel::{share_settings, share_state};
use super::micro_batch::build_step;
use super::monitor::{KnnMonitor, LiveKnn};
use super::resume::{truncate_metrics, ResumeFrom};
use super::run_dir::{open_run_dir, resumed_state, settings_and_dir, MetricsLog};
pub use super::run_dir::{Verbosity, CHECKPOINT, CONFIG, LOSS_PNG, METRICS};
use super::saver::Saver;
use super::schedule::{run_length, Plan};
use super::step_loop::{progress_bar, run_steps, LoopContext, LoopEnd};
pub use super::step_loop::{stop_on_signals, INTERRUPTED};
use crate::data::dataset::{Dataset, Split};
use crate::data::normalization::{normalization_for, Normalization};
use crate::dist::launch::Launch;
use crate::dist::{Collective, SingleProcess};
use crate::error::{Error, Result};
use crate::figures::curves::{training_curves, CurvePoint};
use crate::fs::write_atomic;
use crate::gpu::context::choice_for_rank;
use crate::gpu::{Engine, EngineRequest, NativeDefaults};
use crate::model::step::AdclrStep;
use crate::spec::config::AdclrConfig;
use indicatif::ProgressBar;
use serde_json::json;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The k-NN monitor and the floor (k-NN of the initial teacher), logged at step 0 of a fresh run.
fn start_monitor(
    e: &Engine,
    tc: &TrainConfig,
    cfg: &AdclrConfig,
    norm: &Normalization,
    metrics: &mut MetricsLog,
    bar: &ProgressBar,
    first: usize,
) -> Result<LiveKnn> {
    let m = KnnMonitor::open(&tc.data, tc.eval_bank, &cfg.model, norm, "--eval-every 0")?;
    bar.set_message("k-NN of the initial teacher (the random-init floor)");
    let live = pollster::block_on(LiveKnn::open(e, m, tc.seed))?;
    let f = &live.floor;
    if first == 0 {
        metrics.write(&json!({
            "step": 0, "knn_teacher_top1": f.top1, "knn_student_top1": f.top1, "knn_floor_top1": f.top1,
            "knn_bank": f.bank, "knn_queries": f.queries,
        }))?;
    }
    Ok(live)
}

/// Trains per `tc` (or continues the run in `resume`). `stop_after` ends the loop after that
/// many steps of this call as if interrupted (tests use it to cut a run short).
pub fn train(
    tc: TrainConfig,
    resume: Option<ResumeFrom>,
    verbosity: Verbosity,
    stop_after: Option<usize>,
    defaults: &NativeDefaults,
) -> Result<TrainOutcome> {
    train_ranks(tc, resume, verbosity, stop_after, &SingleProcess, &Launch::ALONE, defaults)
}

/// The device of this rank (the adapter `local_rank mod n` of the best kind, unless
/// `--adapter` names one), completed by `defaults`.
fn open_engine(tc: &TrainConfig, coll: &dyn Collective, launch: &Launch, defaults: &NativeDefaults) -> Result<Engine> {
    let choice = defaults.adapter(tc.adapter_choice());
    let choice = match coll.ranks() {
        1 => choice,
        _ => choice_for_rank(&choice, launch.local_rank)?,
    };
    Engine::open(&EngineRequest::native(choice, tc.precision, defaults))
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
    defaults: &NativeDefaults,
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
    let e = open_engine(&tc, coll, launch, defaults)?;
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
