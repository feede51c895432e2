//! DINO's schedules, per iteration: linear warm-up then cosine (lr), cosine (weight decay,
//! teacher momentum), per-epoch linear warm-up of the teacher temperature.

use super::config::TrainConfig;
use crate::model::batch::StepHyper;

/// Linear warm-up from `start` to `base` over `warmup` steps, then cosine to `end` at `total`.
pub fn cosine(base: f64, end: f64, step: usize, total: usize, warmup: usize, start: f64) -> f64 {
    if step < warmup {
        return start + (base - start) * step as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let t = ((step - warmup) as f64 / span as f64).min(1.0);
    end + 0.5 * (base - end) * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Steps and schedule lengths of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub steps_per_epoch: usize,
    pub total_steps: usize,
}

impl Plan {
    pub fn new(c: &TrainConfig, images: usize) -> Self {
        let steps_per_epoch = (images / c.batch).max(1);
        let mut total = steps_per_epoch.saturating_mul(c.epochs);
        if c.max_steps > 0 {
            total = total.min(c.max_steps);
        }
        Self { steps_per_epoch, total_steps: total }
    }
}

/// The hyper-parameters of `step` (0-based). Warm-ups are given in epochs and clamped to
/// the run's length.
pub fn hyper(c: &TrainConfig, plan: &Plan, step: usize) -> StepHyper {
    let total = plan.total_steps;
    let warmup = ((c.warmup_epochs * plan.steps_per_epoch as f64) as usize).min(total / 2);
    let base_lr = c.lr * c.batch as f64 / 256.0;
    let epoch = step / plan.steps_per_epoch;
    let temp_epochs = c.warmup_teacher_temp_epochs;
    let teacher_temp = if (epoch as f64) < temp_epochs {
        c.warmup_teacher_temp + (c.teacher_temp - c.warmup_teacher_temp) * epoch as f64 / temp_epochs
    } else {
        c.teacher_temp
    };
    StepHyper {
        lr: cosine(base_lr, c.min_lr, step, total, warmup, 0.0),
        weight_decay: cosine(c.weight_decay, c.weight_decay_end, step, total, 0, c.weight_decay),
        teacher_momentum: cosine(c.momentum_teacher, 1.0, step, total, 0, c.momentum_teacher),
        teacher_temp,
        freeze_last_layer: epoch < c.freeze_last_layer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        assert_eq!(cosine(1.0, 0.0, 0, 100, 10, 0.0), 0.0);
        assert!((cosine(1.0, 0.0, 5, 100, 10, 0.0) - 0.5).abs() < 1e-12);
        assert!((cosine(1.0, 0.0, 10, 100, 10, 0.0) - 1.0).abs() < 1e-12);
        assert!(cosine(1.0, 0.0, 100, 100, 10, 0.0).abs() < 1e-12);
        assert!((cosine(0.996, 1.0, 50, 100, 0, 0.996) - 0.998).abs() < 1e-12);
    }

    #[test]
    fn hyper_follows_the_config() {
        let c = TrainConfig { epochs: 4, max_steps: 0, batch: 256, warmup_epochs: 1.0, ..TrainConfig::default() };
        let plan = Plan::new(&c, 256 * 10);
        assert_eq!(plan.total_steps, 40);
        let h0 = hyper(&c, &plan, 0);
        assert_eq!(h0.lr, 0.0);
        assert!(h0.freeze_last_layer);
        assert!(!hyper(&c, &plan, 10).freeze_last_layer);
        assert!((hyper(&c, &plan, 10).lr - 5e-4).abs() < 1e-12);
        assert!((h0.teacher_temp - 0.04).abs() < 1e-12);
    }
}
