//! The training loop: data workers ahead of the GPU, one ADCLR step per batch, progress,
//! metrics every N steps, atomic checkpoints (every N steps, at the end, on Ctrl-C or SIGTERM), resume.

use super::batcher::{BatchMaker, Prefetcher};
use super::config::TrainConfig;
use super::lock::RunLock;
use super::monitor::{with_floor, KnnMonitor};
use super::resume::{edited_config_error, setting_changes, truncate_metrics, ResumeFrom};
use super::schedule::{hyper, Plan};
use crate::checkpoint;
use crate::data::dataset::{Dataset, Split};
use crate::data::normalization::normalization_for;
use crate::error::{Error, Result};
use crate::figures::curves::{training_curves, CurvePoint};
use crate::fs::{remove_stale_temporaries, write_atomic};
use crate::gpu::{AdapterChoice, Engine};
use crate::model::step::{AdclrStep, Flat};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Set by Ctrl-C, SIGTERM or SIGHUP: the loop writes a checkpoint and stops.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C, SIGTERM and SIGHUP set `INTERRUPTED` instead of ending the process, so that
/// a training (or an ablation's current training) writes its checkpoint and stops. The CLI
/// calls it once; a library user who wants the same calls it too.
pub fn stop_on_signals() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const LOSS_PNG: &str = "loss.png";

pub struct TrainOutcome {
    pub run_dir: PathBuf,
    pub steps_done: usize,
    pub total_steps: usize,
    pub final_loss: Option<f64>,
    pub interrupted: bool,
    pub skipped_images: usize,
    pub data_wait_share: f64,
}

/// How the loop reports (the CLI shows a progress bar; tests stay quiet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Progress,
}

fn data_err(m: String) -> Error {
    Error::Data(m)
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Data(format!("{}: {e}", path.display()))
}

/// Trains per `tc` (or continues the run in `resume`). `stop_after` ends the loop after that
/// many steps of this call as if interrupted (tests use it to cut a run short).
pub fn train(
    tc: TrainConfig,
    resume: Option<ResumeFrom>,
    verbosity: Verbosity,
    stop_after: Option<usize>,
) -> Result<TrainOutcome> {
    let (tc, run_dir) = match resume {
        Some(ResumeFrom { dir, .. }) => {
            let path = dir.join(CONFIG);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| data_err(format!("--resume {}: cannot read {CONFIG}: {e}", dir.display())))?;
            (TrainConfig::from_toml(&text, &path.display().to_string()).map_err(data_err)?, dir.to_path_buf())
        }
        None => {
            let dir = match &tc.out {
                Some(o) => PathBuf::from(o),
                None => {
                    let secs = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    PathBuf::from("runs").join(format!("{}-{secs}", tc.preset))
                }
            };
            (tc, dir)
        }
    };
    let cfg = tc.adclr().map_err(data_err)?;
    let ds = Dataset::open(&tc.data, Split::Train).map_err(data_err)?;
    if ds.len() < cfg.batch {
        return Err(data_err(format!(
            "{}: {} images, but --batch {} needs at least that many",
            ds.origin,
            ds.len(),
            cfg.batch
        )));
    }
    let ckpt_path = run_dir.join(CHECKPOINT);
    std::fs::create_dir_all(&run_dir).map_err(|e| io_err(&run_dir, e))?;
    // Before anything in the directory is read or written: a second training of it stops here.
    let _lock = RunLock::acquire(&run_dir)?;
    let stale = remove_stale_temporaries(&run_dir);
    if stale > 0 && verbosity == Verbosity::Progress {
        eprintln!("removed {stale} temporary file(s) a killed process left in {}", run_dir.display());
    }
    if resume.is_none() {
        if ckpt_path.exists() {
            return Err(data_err(format!(
                "{} already holds a run: continue it with --resume {0} or choose another --out",
                run_dir.display()
            )));
        }
        write_atomic(&run_dir.join(CONFIG), tc.to_toml().as_bytes())?;
    }
    let e = Engine::open(&AdapterChoice { backend: tc.backend.clone(), adapter: tc.adapter })?;
    let mut step = AdclrStep::new(&e, &cfg, tc.seed)?;
    let norm = normalization_for(&tc.data);
    if let Some(r) = resume {
        let loaded = checkpoint::load_training(&ckpt_path)?;
        if loaded.model != cfg.model {
            return Err(Error::Checkpoint(format!("{}: its model differs from {CONFIG}", ckpt_path.display())));
        }
        if let Some(saved) = loaded.metadata.get("config") {
            let changes = setting_changes(saved, &tc.to_toml()).map_err(data_err)?;
            if !changes.is_empty() && !r.force {
                return Err(edited_config_error(r.dir, &changes));
            }
            for c in &changes {
                eprintln!("--force: continuing with an edited setting: {c}");
            }
        }
        step.load_state(&e, &loaded.state)?;
        truncate_metrics(&run_dir.join(METRICS), loaded.state.step)?;
    }
    let plan = Plan::new(&tc, ds.len());
    let first = step.step as usize;
    if verbosity == Verbosity::Progress {
        eprintln!("adclr-wgpu: {} images from {}, {} on {}", ds.len(), ds.origin, cfg.model.preset, e.ctx.describe());
        eprintln!("memory plan: {}", step.plan.summary());
        eprintln!("matmul kernels: {}", e.matmul_summary());
        for note in plan.adjustments(&tc) {
            eprintln!("schedule: {note}");
        }
    }
    let workers =
        if tc.workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { tc.workers };
    let maker =
        BatchMaker { cfg: cfg.clone(), train: tc.clone(), norm: norm.clone(), steps_per_epoch: plan.steps_per_epoch };
    let mut pre = Prefetcher::start(maker, Arc::new(ds), first, plan.total_steps, workers);
    let bar = match verbosity {
        Verbosity::Progress => ProgressBar::new(plan.total_steps as u64),
        Verbosity::Quiet => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(first as u64);
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join(METRICS))
        .map_err(|e| io_err(&run_dir.join(METRICS), e))?;
    // The step of the state on disk (the last healthy one), for messages after a failure.
    let saved_step = std::cell::Cell::new(resume.map(|_| step.step));
    let on_disk = || match saved_step.get() {
        Some(s) => format!("{} holds the last healthy state (step {s})", ckpt_path.display()),
        None => "nothing was saved".to_string(),
    };
    let save = |step: &AdclrStep| -> Result<()> {
        let extra = vec![
            ("config".to_string(), tc.to_toml()),
            ("total_steps".to_string(), plan.total_steps.to_string()),
            ("seed".to_string(), tc.seed.to_string()),
        ];
        let state = step.state(&e, tc.seed)?;
        if let Some(name) = state.first_non_finite() {
            let term = format!("`{name}` (nothing written)");
            return Err(Error::NonFinite { step: state.step, term, kept: on_disk() });
        }
        checkpoint::save_training(&ckpt_path, &cfg.model, &norm, &extra, &state)?;
        saved_step.set(Some(state.step));
        Ok(())
    };
    // A failed health check: back to the state before the failing step, written to disk
    // when it is finite, and the error says which file holds the last healthy state.
    let healthy = |step: &mut AdclrStep| -> Result<()> {
        match step.check_health(&e) {
            Err(Error::NonFinite { step: failed, term, .. }) => {
                step.rewind_before(failed);
                let kept = match save(step) {
                    Ok(()) => format!(
                        "The state before that step is saved: {}. Continue from it with a lower learning \
                         rate: edit lr in {}, then adclr-wgpu train --resume {} --force",
                        on_disk(),
                        run_dir.join(CONFIG).display(),
                        run_dir.display()
                    ),
                    Err(_) => format!(
                        "The update overflowed, so the state in memory is not finite; {}. Lower the learning rate",
                        on_disk()
                    ),
                };
                Err(Error::NonFinite { step: failed, term, kept })
            }
            other => other,
        }
    };
    // A fresh run writes its initial state at once: a failure before the first periodic
    // checkpoint still leaves a finite state on disk.
    if resume.is_none() {
        save(&step)?;
    }
    // k-NN during the run: the floor first (the initial teacher), then every --eval-every steps.
    let monitor = match tc.eval_every {
        0 => None,
        _ => Some(KnnMonitor::open(&tc.data, tc.eval_bank, &cfg.model, &norm)?),
    };
    let floor = match &monitor {
        Some(m) => {
            bar.set_message("k-NN of the initial teacher (the random-init floor)");
            let f = m.floor(&e, tc.seed)?;
            if first == 0 {
                let line = json!({
                    "step": 0, "knn_teacher_top1": f.top1, "knn_student_top1": f.top1, "knn_floor_top1": f.top1,
                    "knn_bank": f.bank, "knn_queries": f.queries,
                });
                writeln!(metrics, "{line}").map_err(|e| io_err(&run_dir.join(METRICS), e))?;
            }
            Some(f)
        }
        None => None,
    };
    let started = Instant::now();
    let (mut skipped, mut warned, mut last_loss, mut interrupted) = (0usize, 0usize, None, false);
    let mut done_here = 0usize;
    while let Some(batch) = pre.next_batch() {
        let batch = batch.map_err(data_err)?;
        for s in &batch.skipped {
            if warned < 5 {
                bar.suspend(|| eprintln!("warning: skipped {s}"));
            }
            warned += 1;
        }
        skipped += batch.skipped.len();
        let s = batch.step;
        let h = hyper(&tc, &plan, s);
        step.run(&e, &batch.input, &h)?;
        done_here += 1;
        let last = s + 1 == plan.total_steps;
        if (s + 1) % tc.log_every == 0 || last {
            let r = step.report(&e)?;
            healthy(&mut step)?;
            let probs = step.global_loss.teacher_probs.read_f32(&e.ctx)?;
            let k = cfg.model.out_dim;
            let rows = probs.len() / k;
            let entropy =
                probs.iter().filter(|&&p| p > 0.0).map(|&p| -(p as f64) * (p as f64).ln()).sum::<f64>() / rows as f64;
            let norm_of = |v: Vec<f32>| v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
            let elapsed = started.elapsed().as_secs_f64();
            let ips = (done_here * cfg.batch) as f64 / elapsed.max(1e-9);
            let line = json!({
                "step": s + 1,
                "epoch": s / plan.steps_per_epoch,
                "loss": r.loss,
                "global_loss": r.global_loss,
                "query_loss": r.query_loss,
                "lr": h.lr,
                "weight_decay": h.weight_decay,
                "teacher_momentum": h.teacher_momentum,
                "teacher_temp": h.teacher_temp,
                "teacher_entropy": entropy,
                "kl_teacher_student": r.global_loss - entropy,
                "centre_norm_cls": norm_of(step.centre_cls.read_f32(&e.ctx)?),
                "centre_norm_query": norm_of(step.centre_query.read_f32(&e.ctx)?),
                "images_per_s": ips,
                "data_wait_share": pre.waited.as_secs_f64() / elapsed.max(1e-9),
                "skipped_images": skipped,
            });
            writeln!(metrics, "{line}").map_err(|e| io_err(&run_dir.join(METRICS), e))?;
            last_loss = Some(r.loss);
            bar.set_message(format!(
                "epoch {} loss {:.4} lr {:.2e} {:.1} img/s",
                s / plan.steps_per_epoch,
                r.loss,
                h.lr,
                ips
            ));
        }
        if let (Some(m), Some(f)) = (&monitor, &floor) {
            if (s + 1) % tc.eval_every == 0 || last {
                healthy(&mut step)?;
                bar.set_message(format!("k-NN of teacher and student at step {}", s + 1));
                let teacher = m.evaluate(&e, step.backbone_weights(&e, Flat::Teacher)?)?;
                let student = m.evaluate(&e, step.backbone_weights(&e, Flat::Student)?)?;
                let line = json!({
                    "step": s + 1, "knn_teacher_top1": teacher.top1, "knn_student_top1": student.top1,
                    "knn_floor_top1": f.top1, "knn_teacher_top5": teacher.top5, "knn_student_top5": student.top5,
                    "knn_bank": teacher.bank, "knn_queries": teacher.queries,
                });
                writeln!(metrics, "{line}").map_err(|e| io_err(&run_dir.join(METRICS), e))?;
                bar.suspend(|| {
                    eprintln!("step {}: k-NN teacher {}, student {:.1}%", s + 1, with_floor(&teacher, f), student.top1)
                });
            }
        }
        bar.set_position((s + 1) as u64);
        if tc.checkpoint_every > 0 && (s + 1) % tc.checkpoint_every == 0 && !last {
            healthy(&mut step)?;
            save(&step)?;
        }
        if INTERRUPTED.load(Ordering::SeqCst) || stop_after.is_some_and(|n| done_here >= n) {
            interrupted = !last;
            break;
        }
    }
    healthy(&mut step)?;
    save(&step)?;
    bar.finish_and_clear();
    write_loss_png(&run_dir)?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(TrainOutcome {
        run_dir,
        steps_done: step.step as usize,
        total_steps: plan.total_steps,
        final_loss: last_loss,
        interrupted,
        skipped_images: skipped,
        data_wait_share: pre.waited.as_secs_f64() / elapsed.max(1e-9),
    })
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
