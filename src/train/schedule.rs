//! DINO's schedules, per iteration: linear warm-up then cosine (lr), cosine (weight decay,
//! teacher momentum), linear warm-up of the teacher temperature; lengths follow the run (`Plan`).

use super::config::{TrainConfig, SMOKE_RUN_STEPS};
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
    /// Steps of the query teacher's temperature warm-up.
    pub teacher_query_temp_warmup_steps: usize,
    pub freeze_last_layer_steps: usize,
    /// The base of the cosine momentum schedule (from it to 1).
    pub momentum_base: f64,
}

impl Plan {
    pub fn new(c: &TrainConfig, images: usize) -> Self {
        let steps_per_epoch = (images / c.batch).max(1);
        let total = run_length(c, steps_per_epoch).steps;
        let in_steps = |epochs: f64| (epochs * steps_per_epoch as f64).min(usize::MAX as f64 / 2.0) as usize;
        // Cosine from m to 1 over T steps moves the EMA by (1 - m) T / 2 in all.
        let short_run_momentum = 1.0 - 2.0 * MIN_TEACHER_TRAVEL / total.max(1) as f64;
        Self {
            steps_per_epoch,
            total_steps: total,
            lr_warmup_steps: in_steps(c.warmup_epochs).min(total / 2),
            teacher_temp_warmup_steps: in_steps(c.warmup_teacher_temp_epochs).min(total / 2),
            teacher_query_temp_warmup_steps: in_steps(
                c.warmup_teacher_query_temp_epochs.unwrap_or(c.warmup_teacher_temp_epochs),
            )
            .min(total / 2),
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
                    "{what} of {epochs} epoch{} shortened to {} of this {}-step run",
                    if epochs == 1.0 { "" } else { "s" },
                    plural(steps, "step"),
                    self.total_steps
                ));
            }
        };
        shortened("lr warm-up", c.warmup_epochs, self.lr_warmup_steps);
        shortened("teacher temperature warm-up", c.warmup_teacher_temp_epochs, self.teacher_temp_warmup_steps);
        if let (Some(_), Some(epochs)) = (c.teacher_query_temp, c.warmup_teacher_query_temp_epochs) {
            shortened("query teacher temperature warm-up", epochs, self.teacher_query_temp_warmup_steps);
        }
        shortened("last-layer freeze", c.freeze_last_layer as f64, self.freeze_last_layer_steps);
        if self.momentum_base < c.momentum_teacher {
            notes.push(format!(
                "teacher momentum starts at {:.4} instead of {} so that the teacher leaves its initialisation in {}",
                self.momentum_base,
                c.momentum_teacher,
                plural(self.total_steps, "step")
            ));
        }
        notes
    }
}

/// How long a run is and which setting decided it: one rule. With neither `epochs` nor
/// `max_steps` set, the smoke run's `SMOKE_RUN_STEPS`; with one of them, that one; with both,
/// the shorter (`max_steps` 0: no cap).
#[derive(Clone, Debug, PartialEq)]
pub struct RunLength {
    pub steps: usize,
    /// The sentence printed at the start of the run.
    pub why: String,
}

pub fn run_length(c: &TrainConfig, steps_per_epoch: usize) -> RunLength {
    let of_epochs = |e: usize| steps_per_epoch.saturating_mul(e);
    let steps_word = |n: usize| plural(n, "step");
    let cap = c.max_steps.filter(|&m| m > 0);
    let (steps, why) = match (c.epochs, cap) {
        (None, None) => (
            SMOKE_RUN_STEPS,
            format!(
                "the default smoke-run length (set --max-steps or --epochs for more); --epochs 1 would be {}",
                steps_word(of_epochs(1))
            ),
        ),
        (Some(e), None) => (of_epochs(e), format!("--epochs {e} of {} each", steps_word(steps_per_epoch))),
        (None, Some(m)) => (
            m,
            format!(
                "--max-steps {m} ({:.2} epochs of {})",
                m as f64 / steps_per_epoch as f64,
                steps_word(steps_per_epoch)
            ),
        ),
        (Some(e), Some(m)) if m < of_epochs(e) => {
            (m, format!("--max-steps {m}, shorter than --epochs {e} ({})", steps_word(of_epochs(e))))
        }
        (Some(e), Some(m)) => (of_epochs(e), format!("--epochs {e}, shorter than --max-steps {m}")),
    };
    RunLength { steps, why: format!("{}: {why}", steps_word(steps)) }
}

/// "1 step", "2,500 steps", "500 queries".
pub fn plural(n: usize, word: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("{grouped} {word}"),
        (_, Some(stem)) => format!("{grouped} {stem}ies"),
        _ => format!("{grouped} {word}s"),
    }
}

/// A linear warm-up from `start` to `end` over `steps` steps, then `end`.
fn warmed_up(start: f64, end: f64, step: usize, steps: usize) -> f64 {
    if step < steps {
        start + (end - start) * step as f64 / steps as f64
    } else {
        end
    }
}

/// The hyper-parameters of `step` (0-based).
pub fn hyper(c: &TrainConfig, plan: &Plan, step: usize) -> StepHyper {
    let total = plan.total_steps;
    let base_lr = c.lr * c.batch as f64 / 256.0;
    let teacher_temp = warmed_up(c.warmup_teacher_temp, c.teacher_temp, step, plan.teacher_temp_warmup_steps);
    let teacher_query_temp = match c.teacher_query_temp {
        None => teacher_temp,
        Some(end) => warmed_up(
            c.warmup_teacher_query_temp.unwrap_or(c.warmup_teacher_temp),
            end,
            step,
            plan.teacher_query_temp_warmup_steps,
        ),
    };
    StepHyper {
        lr: cosine(base_lr, c.min_lr, step, total, plan.lr_warmup_steps, 0.0),
        weight_decay: cosine(c.weight_decay, c.weight_decay_end, step, total, 0, c.weight_decay),
        teacher_momentum: cosine(plan.momentum_base, 1.0, step, total, 0, plan.momentum_base),
        teacher_temp,
        teacher_query_temp,
        freeze_last_layer: step < plan.freeze_last_layer_steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_decides_the_run_length_and_says_which() {
        let len = |epochs, max_steps| run_length(&TrainConfig { epochs, max_steps, ..TrainConfig::default() }, 250);
        // Neither: the smoke run, and what an epoch would be.
        let smoke = len(None, None);
        assert_eq!(smoke.steps, SMOKE_RUN_STEPS);
        assert!(smoke.why.starts_with("24 steps: the default smoke-run length") && smoke.why.contains("250 steps"));
        // One of them: that one, also beyond one epoch.
        assert_eq!(len(Some(3), None), RunLength { steps: 750, why: "750 steps: --epochs 3 of 250 steps each".into() });
        assert_eq!(len(None, Some(2)).steps, 2);
        assert_eq!(len(None, Some(600)).why, "600 steps: --max-steps 600 (2.40 epochs of 250 steps)");
        // Both: the shorter, naming the other; 0 is no cap.
        assert_eq!(len(Some(3), Some(100)).why, "100 steps: --max-steps 100, shorter than --epochs 3 (750 steps)");
        assert_eq!(len(Some(3), Some(10_000)).why, "750 steps: --epochs 3, shorter than --max-steps 10000");
        assert_eq!(len(Some(3), Some(0)).steps, 750);
        // One step of a tiny folder: max-steps alone is not capped by an epoch.
        assert_eq!(run_length(&TrainConfig { max_steps: Some(2), ..TrainConfig::default() }, 1).steps, 2);
        assert_eq!(
            (plural(1, "step"), plural(2_500, "step"), plural(1_234_567, "epoch")),
            ("1 step".to_string(), "2,500 steps".to_string(), "1,234,567 epochs".to_string())
        );
        assert_eq!((plural(500, "query"), plural(1, "query")), ("500 queries".to_string(), "1 query".to_string()));
    }

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
        let c = TrainConfig {
            epochs: Some(4),
            max_steps: Some(0),
            batch: 256,
            warmup_epochs: 1.0,
            ..TrainConfig::default()
        };
        let plan = Plan::new(&c, 256 * 10);
        assert_eq!(plan.total_steps, 40);
        let h0 = hyper(&c, &plan, 0);
        assert_eq!(h0.lr, 0.0);
        assert!(h0.freeze_last_layer);
        assert!(!hyper(&c, &plan, 10).freeze_last_layer);
        assert!((hyper(&c, &plan, 10).lr - 5e-4).abs() < 1e-12);
        assert!((h0.teacher_temp - 0.04).abs() < 1e-12);
    }

    /// Unset, the query teacher follows the CLS teacher's temperature; set (PQCL's 0.04 -> 0.07),
    /// it warms up on its own schedule while the CLS teacher keeps its own.
    #[test]
    fn the_query_teacher_temperature_follows_the_cls_one_unless_set_apart() {
        let c = TrainConfig {
            max_steps: Some(1_000),
            epochs: Some(2),
            batch: 32,
            warmup_teacher_temp: 0.04,
            teacher_temp: 0.04,
            warmup_teacher_temp_epochs: 0.0,
            ..TrainConfig::default()
        };
        let plan = Plan::new(&c, 60_000);
        for s in [0, 250, 999] {
            let h = hyper(&c, &plan, s);
            assert_eq!(h.teacher_query_temp, h.teacher_temp);
        }
        let apart =
            TrainConfig { teacher_query_temp: Some(0.07), warmup_teacher_query_temp_epochs: Some(0.2), ..c.clone() };
        let plan = Plan::new(&apart, 60_000);
        assert_eq!(plan.teacher_query_temp_warmup_steps, 375);
        let at = |s| hyper(&apart, &plan, s);
        assert!((at(0).teacher_query_temp - 0.04).abs() < 1e-12);
        assert!((at(375 / 3).teacher_query_temp - (0.04 + 0.03 * 125.0 / 375.0)).abs() < 1e-12);
        assert!((at(375).teacher_query_temp - 0.07).abs() < 1e-12 && (at(999).teacher_query_temp - 0.07).abs() < 1e-12);
        assert!((at(500).teacher_temp - 0.04).abs() < 1e-12);
        // Its own start, and a warm-up longer than half the run is shortened and said.
        let long =
            TrainConfig { warmup_teacher_query_temp: Some(0.05), warmup_teacher_query_temp_epochs: Some(5.0), ..apart };
        let plan = Plan::new(&long, 60_000);
        assert_eq!(plan.teacher_query_temp_warmup_steps, 500);
        assert!((hyper(&long, &plan, 0).teacher_query_temp - 0.05).abs() < 1e-12);
        assert!(plan.adjustments(&long).join("\n").contains("query teacher temperature warm-up"));
    }

    /// A long run keeps DINO's schedules exactly (ViT presets on ImageNet-sized data).
    #[test]
    fn long_runs_keep_dino_schedules() {
        let c = TrainConfig { epochs: Some(100), max_steps: None, batch: 256, ..TrainConfig::default() };
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
        let c = TrainConfig { epochs: Some(100), max_steps: Some(200), batch: 32, ..TrainConfig::default() };
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
            max_steps: Some(2_500),
            epochs: Some(2),
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
