//! The metrics lines of a training step and of a k-NN evaluation, with the teacher's entropy and mode helpers.

use super::monitor::{with_floor, LivePoint};
use crate::error::Result;
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::reference::loss_scale::LossScaler;
use crate::spec::batch::{StepHyper, StepReport};
use serde_json::json;

/// What a metrics line reports besides the step's own values.
pub(super) struct Throughput {
    pub(super) images_per_s: f64,
    pub(super) data_wait_share: f64,
    pub(super) skipped_images: usize,
    pub(super) exchange_share: f64,
    /// Seconds to the end of the run at this call's pace.
    pub(super) eta_s: f64,
}

/// The metrics line of step `s` (0-based) just run: loss terms and loss scale (as
/// `step_once::read_figures` read them), schedules, teacher entropy, centre norms, speed.
pub(super) fn step_metrics(
    e: &Engine,
    step: &AdclrStep,
    (r, loss_scale): (&StepReport, Option<LossScaler>),
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
    let (loss_scale, skipped_steps) = match loss_scale {
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

/// The metrics line and the message of a k-NN point (teacher and student) after `steps` steps.
pub(super) fn knn_metrics(point: &LivePoint, steps: usize) -> (serde_json::Value, String) {
    let (teacher, floor) = (&point.teacher, point.floor);
    let mut line = json!({
        "step": steps, "knn_teacher_top1": teacher.top1, "knn_floor_top1": floor.top1,
        "knn_teacher_top5": teacher.top5, "knn_bank": teacher.bank, "knn_queries": teacher.queries,
    });
    let mut said = format!("step {steps}: k-NN teacher {}", with_floor(teacher, floor));
    if let Some(student) = &point.student {
        line["knn_student_top1"] = json!(student.top1);
        line["knn_student_top5"] = json!(student.top5);
        said.push_str(&format!(", student {:.1}%", student.top1));
    }
    (line, said)
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
