//! A run's record (the settings, each step's losses, the state's checksum, the adapter and
//! the time per step) and the comparison of two records of the same settings made by
//! different implementations: the native driver (naga, lavapipe) against a browser's (Tint,
//! SwiftShader), whose compilers contract and order float arithmetic differently.

use super::session::{Checksum, KnnFigures, Settings, StepLog, Trainer};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use web_time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub settings: Settings,
    /// "adapter (backend, type); kernels: ...".
    pub adapter: String,
    /// One entry per step, in order.
    pub steps: Vec<StepLog>,
    /// The state after the last step.
    pub checksum: Checksum,
    /// Seconds of the first step (it includes the driver's first use of each pipeline).
    pub first_step_seconds: f64,
    /// Steps per second over the steps after the first (the first's rate when there is one).
    pub steps_per_second: f64,
}

/// Runs `settings` to the end and records it, calling `on_step` after each step.
pub async fn run(settings: Settings, on_step: &mut dyn FnMut(&StepLog, f64)) -> Result<Record> {
    let mut trainer = Trainer::open(settings).await?;
    train(&mut trainer, on_step).await
}

/// Takes `trainer`'s remaining steps and records them, calling `on_step(log, seconds since the
/// first of them began)` after each.
pub async fn train(trainer: &mut Trainer, on_step: &mut dyn FnMut(&StepLog, f64)) -> Result<Record> {
    train_with_knn(trainer, on_step, &mut |_| {}).await
}

/// The k-NN of the teacher at a step of the run, beside the floor.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnPoint {
    /// Steps done when it was measured.
    pub step: usize,
    #[serde(flatten)]
    pub figures: KnnFigures,
}

/// `train`, with the k-NN of the teacher and the floor (`Trainer::knn` on the settings'
/// `knn_bank`) every `knn_every` steps of the settings (none when either is 0 or the images
/// have no labels), handed to
/// `on_knn` as it is measured (the page draws it live). The last step's k-NN is the caller's
/// to take (`Trainer::knn`), so a run does not measure it twice.
pub async fn train_with_knn(
    trainer: &mut Trainer,
    on_step: &mut dyn FnMut(&StepLog, f64),
    on_knn: &mut dyn FnMut(&KnnPoint),
) -> Result<Record> {
    let bank = trainer.settings.knn_bank;
    let mut steps = Vec::with_capacity(trainer.total_steps());
    let started = Instant::now();
    // Seconds spent in the k-NN during the run: left out of the steps' times.
    let mut evaluating = 0.0;
    let mut first_step_seconds = 0.0;
    while trainer.done() < trainer.total_steps() {
        let log = trainer.next_step().await?;
        let seconds = started.elapsed().as_secs_f64() - evaluating;
        if steps.is_empty() {
            first_step_seconds = seconds;
        }
        on_step(&log, seconds);
        steps.push(log);
        let done = trainer.done();
        // Unlabelled images have no k-NN; the last step's is the caller's (`Cadence::of_session`).
        if trainer.cadence.due(done).knn {
            let at = Instant::now();
            let figures = trainer.knn(bank).await?;
            evaluating += at.elapsed().as_secs_f64();
            on_knn(&KnnPoint { step: done, figures });
        }
    }
    let training = started.elapsed().as_secs_f64() - evaluating;
    let steps_per_second = steps_per_second(steps.len(), first_step_seconds, training);
    let checksum = trainer.checksum().await?;
    Ok(Record {
        settings: trainer.settings.clone(),
        adapter: trainer.describe(),
        steps,
        checksum,
        first_step_seconds,
        steps_per_second,
    })
}

/// Steps per second of `steps` steps that took `total` seconds, the first `first` of them: over
/// the steps after the first, or the first's rate when it is the only one.
pub fn steps_per_second(steps: usize, first: f64, total: f64) -> f64 {
    match steps {
        0 => 0.0,
        1 => 1.0 / first.max(1e-9),
        n => (n - 1) as f64 / (total - first).max(1e-9),
    }
}

/// |got - want| <= atol + rtol |want| for every compared number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Tolerance {
    /// Two drivers running the same WGSL for two steps of `Settings::small_test`: measured
    /// (2026-12-06) at most 8.8e-7 relative between Chromium's WebGPU on SwiftShader and
    /// lavapipe, 2.4e-7 between lavapipe's portable and subgroup kernels; another seed's run
    /// is off by percents (tests/session.rs checks both sides).
    pub const ACROSS_DRIVERS: Self = Self { atol: 1e-6, rtol: 2e-5 };

    fn check(&self, what: &str, got: f64, want: f64) -> std::result::Result<(), String> {
        let bound = self.atol + self.rtol * want.abs();
        match (got - want).abs() <= bound {
            true => Ok(()),
            false => Err(format!(
                "{what}: {got} against the reference's {want} (|diff| {:.3e} > {bound:.3e}: atol {}, rtol {})",
                (got - want).abs(),
                self.atol,
                self.rtol
            )),
        }
    }
}

/// Every compared figure of two records of the same length: (name, got, want).
fn figures(want: &Record, got: &Record) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    for (g, w) in got.steps.iter().zip(&want.steps) {
        out.push((format!("step {} loss", w.step), g.loss, w.loss));
        out.push((format!("step {} global loss", w.step), g.global_loss, w.global_loss));
        out.push((format!("step {} query loss", w.step), g.query_loss, w.query_loss));
        out.push((format!("step {} lr", w.step), g.lr, w.lr));
    }
    let (g, w) = (&got.checksum, &want.checksum);
    out.push(("parameter sum".into(), g.param_sum, w.param_sum));
    out.push(("update L2".into(), g.update_l2, w.update_l2));
    out.push(("gradient L2".into(), g.grad_l2, w.grad_l2));
    out
}

/// The compared figure that differs most relative to the reference's: "name: |diff| / |want|".
pub fn largest_difference(want: &Record, got: &Record) -> String {
    let rel = |g: f64, w: f64| (g - w).abs() / w.abs().max(f64::MIN_POSITIVE);
    figures(want, got)
        .into_iter()
        .max_by(|a, b| rel(a.1, a.2).total_cmp(&rel(b.1, b.2)))
        .map(|(name, g, w)| format!("{name}: relative difference {:.2e} ({g} against {w})", rel(g, w)))
        .unwrap_or_else(|| "nothing compared".into())
}

/// Ok when `got` ran the same settings as `want` and every loss term and checksum figure
/// agrees within `tol`; else every disagreement, one per line.
pub fn compare(want: &Record, got: &Record, tol: Tolerance) -> std::result::Result<(), String> {
    if want.settings != got.settings {
        return Err(format!("the runs had different settings:\n  {:?}\n  {:?}", want.settings, got.settings));
    }
    if want.steps.len() != got.steps.len() {
        return Err(format!("{} steps against the reference's {}", got.steps.len(), want.steps.len()));
    }
    let problems: Vec<String> =
        figures(want, got).into_iter().filter_map(|(what, g, w)| tol.check(&what, g, w).err()).collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let log = |step, loss| StepLog {
            step,
            loss,
            global_loss: loss - 1.0,
            query_loss: 2.0,
            lr: 1e-3,
            loss_scale: None,
            skipped_steps: None,
        };
        Record {
            settings: Settings::small_test(),
            adapter: "test".into(),
            steps: vec![log(1, 3.4), log(2, 3.3)],
            checksum: Checksum { param_sum: 12.5, update_l2: 0.25, grad_l2: 1.5 },
            first_step_seconds: 1.0,
            steps_per_second: 2.0,
        }
    }

    #[test]
    fn a_record_matches_itself_and_small_float_differences() {
        let want = record();
        assert_eq!(compare(&want, &want, Tolerance { atol: 0.0, rtol: 0.0 }), Ok(()));
        let mut got = want.clone();
        got.steps[1].loss *= 1.0 + 1e-5;
        got.checksum.grad_l2 *= 1.0 - 1e-5;
        got.steps_per_second = 50.0;
        assert_eq!(compare(&want, &got, Tolerance::ACROSS_DRIVERS), Ok(()));
    }

    #[test]
    fn every_disagreement_is_named() {
        let want = record();
        let mut got = want.clone();
        got.steps[0].query_loss = 2.01;
        got.checksum.update_l2 = 0.3;
        let msg = compare(&want, &got, Tolerance::ACROSS_DRIVERS).unwrap_err();
        assert!(msg.contains("step 1 query loss: 2.01") && msg.contains("update L2: 0.3"), "{msg}");
        assert_eq!(msg.lines().count(), 2, "{msg}");
        got = want.clone();
        got.steps.pop();
        assert!(compare(&want, &got, Tolerance::ACROSS_DRIVERS).unwrap_err().contains("1 steps against"));
        got = want.clone();
        got.settings.train.lr = 0.2;
        assert!(compare(&want, &got, Tolerance::ACROSS_DRIVERS).unwrap_err().contains("different settings"));
    }

    #[test]
    fn steps_per_second_leaves_out_the_first_step() {
        assert_eq!(steps_per_second(0, 0.0, 0.0), 0.0);
        assert_eq!(steps_per_second(1, 0.5, 0.5), 2.0);
        assert_eq!(steps_per_second(5, 3.0, 5.0), 2.0);
    }
}
