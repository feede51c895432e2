//! DINO's schedules, per iteration: linear warm-up then cosine (lr), cosine (weight decay,
//! teacher momentum), linear warm-up of the teacher temperature; lengths follow the run (`Plan`).

use super::config::TrainConfig;
use crate::spec::batch::StepHyper;
pub use crate::spec::schedule::cosine;

/// The least total EMA step, sum over the run of (1 - momentum), that a run's teacher must
/// take: with exp(-6) = 0.25%, the final teacher keeps almost none of its random initialisation.
pub const MIN_TEACHER_TRAVEL: f64 = 6.0;
/// The base momentum is never lowered below this: a teacher that follows the student more
/// closely stops being a stable target (a run under ~120 steps keeps part of its initialisation).
pub const LOWEST_BASE_MOMENTUM: f64 = 0.9;

/// Steps and schedule lengths of a run, all in steps. DINO gives warm-ups in epochs for runs of
/// 100+ epochs; here they follow the run, so that a short run has the same shape: every warm-up
/// is at most half the run, the last layer is frozen at most a tenth of it, and the teacher's
/// base momentum is lowered where the run is too short for the EMA to leave its initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub lr_warmup_steps: usize,
    pub teacher_temp_warmup_steps: usize,
    pub freeze_last_layer_steps: usize,
    /// The base of the cosine momentum schedule (from it to 1).
    pub momentum_base: f64,
}

impl Plan {
    pub fn new(c: &TrainConfig, images: usize) -> Self {
        let steps_per_epoch = (images / c.batch).max(1);
        let mut total = steps_per_epoch.saturating_mul(c.epochs);
        if c.max_steps > 0 {
            total = total.min(c.max_steps);
        }
        let in_steps = |epochs: f64| (epochs * steps_per_epoch as f64).min(usize::MAX as f64 / 2.0) as usize;
        // Cosine from m to 1 over T steps moves the EMA by (1 - m) T / 2 in all.
        let short_run_momentum = 1.0 - 2.0 * MIN_TEACHER_TRAVEL / total.max(1) as f64;
        Self {
            steps_per_epoch,
            total_steps: total,
            lr_warmup_steps: in_steps(c.warmup_epochs).min(total / 2),
            teacher_temp_warmup_steps: in_steps(c.warmup_teacher_temp_epochs).min(total / 2),
            freeze_last_layer_steps: in_steps(c.freeze_last_layer as f64).min(total / 10),
            momentum_base: c.momentum_teacher.min(short_run_momentum.max(LOWEST_BASE_MOMENTUM)),
        }
    }

    /// What the run's length changed in the configured schedules, one sentence each.
    pub fn adjustments(&self, c: &TrainConfig) -> Vec<String> {
        let mut notes = Vec::new();
        let spe = self.steps_per_epoch as f64;
        let mut shortened = |what: &str, epochs: f64, steps: usize| {
            if (epochs * spe) as usize > steps {
                notes.push(format!(
                    "{what} of {epochs} epochs shortened to {steps} steps of this {}-step run",
                    self.total_steps
                ));
            }
        };
        shortened("lr warm-up", c.warmup_epochs, self.lr_warmup_steps);
        shortened("teacher temperature warm-up", c.warmup_teacher_temp_epochs, self.teacher_temp_warmup_steps);
        shortened("last-layer freeze", c.freeze_last_layer as f64, self.freeze_last_layer_steps);
        if self.momentum_base < c.momentum_teacher {
            notes.push(format!(
                "teacher momentum starts at {:.4} instead of {} so that the teacher leaves its initialisation in {} steps",
                self.momentum_base, c.momentum_teacher, self.total_steps
            ));
        }
        notes
    }
}

/// The hyper-parameters of `step` (0-based).
pub fn hyper(c: &TrainConfig, plan: &Plan, step: usize) -> StepHyper {
    let total = plan.total_steps;
    let base_lr = c.lr * c.batch as f64 / 256.0;
    let temp_warmup = plan.teacher_temp_warmup_steps;
    let teacher_temp = if step < temp_warmup {
        c.warmup_teacher_temp + (c.teacher_temp - c.warmup_teacher_temp) * step as f64 / temp_warmup as f64
    } else {
        c.teacher_temp
    };
    StepHyper {
        lr: cosine(base_lr, c.min_lr, step, total, plan.lr_warmup_steps, 0.0),
        weight_decay: cosine(c.weight_decay, c.weight_decay_end, step, total, 0, c.weight_decay),
        teacher_momentum: cosine(plan.momentum_base, 1.0, step, total, 0, plan.momentum_base),
        teacher_temp,
        freeze_last_layer: step < plan.freeze_last_layer_steps,
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

    /// A long run keeps DINO's schedules exactly (ViT presets on ImageNet-sized data).
    #[test]
    fn long_runs_keep_dino_schedules() {
        let c = TrainConfig { epochs: 100, max_steps: 0, batch: 256, ..TrainConfig::default() };
        let plan = Plan::new(&c, 1_281_167);
        let spe = 1_281_167 / 256;
        assert_eq!(plan.lr_warmup_steps, 10 * spe);
        assert_eq!(plan.teacher_temp_warmup_steps, 30 * spe);
        assert_eq!(plan.freeze_last_layer_steps, spe);
        assert_eq!(plan.momentum_base, 0.996);
        assert!(plan.adjustments(&c).is_empty());
        // Per step, the temperature rises linearly from 0.04 to 0.07 over 30 epochs.
        assert!((hyper(&c, &plan, 15 * spe).teacher_temp - 0.055).abs() < 1e-9);
        assert!((hyper(&c, &plan, 30 * spe).teacher_temp - 0.07).abs() < 1e-12);
    }

    /// A 200-step run of a 10-epoch-warm-up recipe: every warm-up fits, the freeze is short and
    /// the teacher moves at least MIN_TEACHER_TRAVEL in all, where 0.996 would move it 0.4.
    #[test]
    fn short_runs_get_schedules_that_fit() {
        let c = TrainConfig { epochs: 100, max_steps: 200, batch: 32, ..TrainConfig::default() };
        let plan = Plan::new(&c, 2_000);
        assert_eq!(plan.total_steps, 200);
        assert_eq!(plan.lr_warmup_steps, 100);
        assert_eq!(plan.teacher_temp_warmup_steps, 100);
        assert_eq!(plan.freeze_last_layer_steps, 20);
        assert!(hyper(&c, &plan, 19).freeze_last_layer && !hyper(&c, &plan, 20).freeze_last_layer);
        assert!((hyper(&c, &plan, 100).teacher_temp - c.teacher_temp).abs() < 1e-12);
        let travel: f64 = (0..200).map(|s| 1.0 - hyper(&c, &plan, s).teacher_momentum).sum();
        assert!((travel - MIN_TEACHER_TRAVEL).abs() < 0.1, "EMA travel {travel}");
        assert!((plan.momentum_base - 0.94).abs() < 1e-12);
        let notes = plan.adjustments(&c).join("\n");
        for what in ["lr warm-up", "teacher temperature warm-up", "last-layer freeze", "teacher momentum"] {
            assert!(notes.contains(what), "{notes}");
        }
        // The laptop recipe (0.1 epoch = 187.5 steps of warm-up, momentum 0.99 over 2,500 steps)
        // fits as given: nothing to announce.
        let laptop = TrainConfig {
            max_steps: 2_500,
            epochs: 2,
            warmup_epochs: 0.1,
            warmup_teacher_temp_epochs: 0.0,
            freeze_last_layer: 0,
            momentum_teacher: 0.99,
            ..c.clone()
        };
        let plan = Plan::new(&laptop, 60_000);
        assert_eq!((plan.lr_warmup_steps, plan.momentum_base), (187, 0.99));
        assert!(plan.adjustments(&laptop).is_empty(), "{:?}", plan.adjustments(&laptop));
        // The default 24-step smoke run: the momentum stops at its lowest base.
        let smoke = TrainConfig::default();
        assert_eq!(Plan::new(&smoke, 2_000).momentum_base, LOWEST_BASE_MOMENTUM);
        // A base already low enough is kept.
        let low = TrainConfig { momentum_teacher: 0.9, ..c };
        assert_eq!(Plan::new(&low, 2_000).momentum_base, 0.9);
    }
}
