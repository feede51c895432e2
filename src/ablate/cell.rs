//! One (cell, seed) of a grid: trained and evaluated, or its recorded result read back (with
//! the evaluations added since, run on its kept weights).

use super::record::CellPaths;
use super::{evaluation_key, Evaluations};
use crate::data::normalization::normalization_for;
use crate::error::{Error, Result};
use crate::eval::checkpoint_knn::{knn_of, knn_of_checkpoint};
use crate::eval::features::Backbone;
use crate::gpu::Engine;
use crate::train::config::TrainConfig;
use crate::train::run::{self, train, Verbosity};
use serde_json::json;
use std::path::Path;

/// Trains and evaluates one (cell, seed), or reads its result from a previous run of the grid
/// (its record first). Returns the result and whether it was done before.
pub fn run_cell(
    paths: &CellPaths,
    label: &str,
    (mut config, random): (TrainConfig, bool),
    evals: &Evaluations,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(serde_json::Value, bool)> {
    let dir = paths.dir.as_path();
    config.out = Some(dir.display().to_string());
    if let Some(mut v) = paths.result() {
        let missing: Vec<&String> = evals.extra.iter().filter(|e| v.get(evaluation_key(e)).is_none()).collect();
        let mut unrecorded = paths.record.as_ref().is_some_and(|r| !r.join(super::record::RESULT).exists());
        // A result from before the monitors were kept: add them from its metrics.
        if !random && v.get("end_teacher_batch_entropy").is_none() {
            if let Some(m) = paths.end_monitors().filter(|m| !m.is_empty()) {
                m.into_iter().for_each(|(k, x)| v[k] = x);
                unrecorded = true;
            }
        }
        if missing.is_empty() {
            if unrecorded {
                paths.save(&v, !random)?;
            }
            progress(&format!("{label}: done before, skipped"));
            return Ok((v, true));
        }
        let weights = match random {
            true => None,
            false => Some(paths.weights()?),
        };
        for what in missing {
            progress(&format!("{label}: trained before; {what} evaluation"));
            add_evaluation(weights.as_deref(), &config, (what, evals), &mut v)?;
        }
        paths.save(&v, !random)?;
        progress(&format!("{label}: {v}"));
        return Ok((v, false));
    }
    progress(&format!("{label}: {}", if random { "evaluating the random initialisation" } else { "training" }));
    let started = std::time::Instant::now();
    let outcome = (|| -> Result<serde_json::Value> {
        let (knn, loss, steps) = if random {
            let e = Engine::open(&config.engine_request(&evals.engines))?;
            let cfg = config.adclr().map_err(Error::Data)?;
            let b = Backbone::random(cfg.model, normalization_for(&config.data), config.seed)?;
            (knn_of(&e, &b, &config.data)?, None, 0)
        } else {
            let resume =
                dir.join(run::CHECKPOINT).exists().then_some(crate::train::resume::ResumeFrom { dir, force: false });
            let t = train(config.clone(), resume, Verbosity::Quiet, None, &evals.engines)?;
            if t.interrupted {
                return Err(Error::Data("interrupted".into()));
            }
            (
                knn_of_checkpoint(&dir.join(run::CHECKPOINT), &config.data, &config.engine_request(&evals.engines))?,
                t.final_loss,
                t.steps_done,
            )
        };
        Ok(json!({ "top1": knn.top1, "top5": knn.top5, "final_loss": loss, "steps": steps, "seed": config.seed }))
    })();
    let interrupted = || run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst);
    let stopped = |label: &str| {
        Error::Data(format!(
            "{label}: interrupted; its checkpoint and any result are in {}; run the same ablate command again to continue",
            dir.display()
        ))
    };
    let mut v = match outcome {
        // Ctrl-C or SIGTERM during the training: its checkpoint is written, nothing is recorded
        // for the cell, and the grid stops (the same command continues it).
        Err(_) if interrupted() => return Err(stopped(label)),
        Ok(v) => v,
        Err(e) => json!({ "error": e.to_string(), "seed": config.seed }),
    };
    if v.get("error").is_none() {
        if let Some(m) = paths.end_monitors().filter(|_| !random) {
            m.into_iter().for_each(|(k, x)| v[k] = x);
        }
        let weights = (!random).then(|| dir.join(run::CHECKPOINT));
        // After an interruption no further evaluation starts; the finished ones are kept and the
        // rest run on the next call.
        for what in evals.extra.iter().take_while(|_| !interrupted()) {
            progress(&format!("{label}: {what} evaluation"));
            add_evaluation(weights.as_deref(), &config, (what, evals), &mut v)?;
        }
    }
    v["seconds"] = json!(started.elapsed().as_secs_f64());
    if v.get("error").is_some() {
        // Failed runs are recorded but retried on the next run (no result.json for them).
        std::fs::create_dir_all(dir).map_err(|e| Error::Data(format!("{}: {e}", dir.display())))?;
        crate::fs::write_atomic(&dir.join("error.json"), v.to_string().as_bytes())?;
    } else {
        paths.save(&v, !random)?;
    }
    progress(&format!("{label}: {v}"));
    if interrupted() {
        return Err(stopped(label));
    }
    Ok((v, false))
}

/// Runs one extra evaluation of a cell (`weights`: its checkpoint or recorded backbone; None:
/// the random initialisation of `config.seed`, the floor) and adds its figures to the cell's
/// result; a failure is recorded under `<what>_error` and retried on the next run of the grid.
fn add_evaluation(
    weights: Option<&Path>,
    config: &TrainConfig,
    (what, evals): (&str, &Evaluations),
    v: &mut serde_json::Value,
) -> Result<()> {
    use crate::data::dataset::{Dataset, Split};
    let figures = (|| -> Result<serde_json::Value> {
        let e = Engine::open(&config.engine_request(&evals.engines))?;
        let b = match weights {
            None => {
                let cfg = config.adclr().map_err(Error::Data)?;
                Backbone::random(cfg.model, normalization_for(&config.data), config.seed)?
            }
            Some(path) => Backbone::load(path)?,
        };
        let open = |split| Dataset::open(&config.data, split).map_err(Error::Data);
        let (train_ds, test_ds) = (open(Split::Train)?, open(Split::Test)?);
        let quiet = |_: &str| {};
        Ok(match what {
            "linear" => {
                let probe = crate::eval::linear::ProbeConfig {
                    seed: config.seed,
                    epochs: evals.linear_epochs,
                    ..Default::default()
                };
                let r = crate::eval::linear::probe(&e, &b, (&train_ds, &test_ds), &probe, evals.linear_views, &quiet)?;
                json!({ "linear_top1": r.top1 })
            }
            _ => {
                let s = crate::eval::dense::DenseSettings::default();
                let r = crate::eval::dense::evaluate(&e, &b, (&train_ds, &test_ds), &s, &quiet)?;
                json!({
                    "dense_cell_fg_miou": r.cell.probe.fg_miou.value,
                    "dense_cell_fg_miou_interval": [r.cell.probe.fg_miou.low, r.cell.probe.fg_miou.high],
                    "dense_cell_fg_miou_per_probe_seed": r.cell.probe.fg_miou_per_seed,
                    "dense_cell_bg_iou": r.cell.probe.bg_iou.value,
                    "dense_scene_fg_miou": r.scene.probe.fg_miou.value,
                    "dense_scene_bg_iou": r.scene.probe.bg_iou.value,
                    "dense_cell_patch_knn": r.cell.patch_knn.value,
                    "dense_scene_patch_knn": r.scene.patch_knn.value,
                    "dense_cell_retrieval_fg_miou": r.cell.retrieval.fg_miou.value,
                    "dense_scene_retrieval_fg_miou": r.scene.retrieval.fg_miou.value,
                    "dense_pixels_position_fg_miou": r.pixels_position.fg_miou.value,
                    "dense_positive_control_fg_miou": r.positive_control.fg_miou.value,
                })
            }
        })
    })();
    match figures {
        Ok(serde_json::Value::Object(f)) => {
            f.into_iter().for_each(|(k, x)| v[k] = x);
            if let Some(o) = v.as_object_mut() {
                o.remove(&format!("{what}_error"));
            }
        }
        Ok(_) => {}
        Err(e) => v[format!("{what}_error")] = json!(e.to_string()),
    }
    Ok(())
}
