//! One turn of the training loop, as `train` (`step_loop`, blocked on) and the browser's
//! session (`session`, awaited) both take it: the step (`step_once::take_step`), then the health
//! check wherever anything of the step is read or written, then the loss terms and loss scale
//! where they are due. What is due after a step is decided here once (`Cadence`), for both.
//! Each front end keeps only what it alone can do: `train` settles the health check over its
//! ranks and rewinds to the state on disk (`Saver::settle`), writes metrics and checkpoints;
//! the session hands its figures to the page.

use super::config::TrainConfig;
use super::micro_batch::MicroBatches;
use super::schedule::{hyper, Plan};
use super::step_once::{read_figures, take_step, Ranks, StepFigures};
use crate::error::Result;
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::spec::batch::{StepHyper, StepInput};
use std::time::Duration;

/// How often a run reads its figures, measures k-NN and writes a checkpoint (0: never), over
/// a run of `total_steps` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub total_steps: usize,
    pub figures_every: usize,
    pub knn_every: usize,
    /// Whether k-NN is measured after the last step too (when `knn_every` is not 0).
    pub knn_at_end: bool,
    pub checkpoint_every: usize,
}

/// What is due after a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// The loss terms and loss scale are read back.
    pub figures: bool,
    pub knn: bool,
    /// A periodic checkpoint (the end's is the caller's, after the loop).
    pub checkpoint: bool,
    /// The run's last step.
    pub last: bool,
}

impl Due {
    /// The health check runs before anything of the step is read or written: nothing
    /// non-finite is ever logged, evaluated or saved.
    pub fn health(&self) -> bool {
        self.figures || self.knn || self.checkpoint
    }
}

impl Cadence {
    /// `train`'s: metrics every `log_every` steps and at the last, k-NN every `eval_every`
    /// steps and at the last, a checkpoint every `checkpoint_every` steps before the last.
    pub fn of_train(tc: &TrainConfig, plan: &Plan) -> Self {
        Self {
            total_steps: plan.total_steps,
            figures_every: tc.log_every,
            knn_every: tc.eval_every,
            knn_at_end: true,
            checkpoint_every: tc.checkpoint_every,
        }
    }

    /// The session's: every step's figures (the page draws each), k-NN every `knn_every`
    /// steps before the last (the last is the caller's, with the run's evaluations), no
    /// checkpoints (a browser has no files).
    pub fn of_session(total_steps: usize, knn_every: usize) -> Self {
        Self { total_steps, figures_every: 1, knn_every, knn_at_end: false, checkpoint_every: 0 }
    }

    /// What is due once `done` steps are done (1 after the first).
    pub fn due(&self, done: usize) -> Due {
        let last = done == self.total_steps;
        let every = |n: usize| n > 0 && done.is_multiple_of(n);
        Due {
            figures: every(self.figures_every) || (last && self.figures_every > 0),
            knn: self.knn_every > 0 && (if last { self.knn_at_end } else { every(self.knn_every) }),
            checkpoint: every(self.checkpoint_every) && !last,
            last,
        }
    }
}

/// What the front end settles the step's own health check into: `train` combines it over
/// the ranks and rewinds to the last healthy state; the session takes it as it is.
pub type Settle<'a> = &'a dyn Fn(&mut AdclrStep, Result<()>) -> Result<()>;

/// The health check as it is: what a single process without files settles.
pub fn as_checked(_: &mut AdclrStep, checked: Result<()>) -> Result<()> {
    checked
}

/// What one turn did.
pub struct Turned {
    pub h: StepHyper,
    pub due: Due,
    /// The figures, where due.
    pub figures: Option<StepFigures>,
    /// Time spent exchanging gradients with the other ranks.
    pub exchange: Duration,
}

/// The run a turn belongs to.
pub struct Turn<'a> {
    pub e: &'a Engine,
    pub tc: &'a TrainConfig,
    pub plan: &'a Plan,
    pub cadence: Cadence,
    pub settle: Settle<'a>,
}

impl Turn<'_> {
    /// Step `s` (0-based) on `inputs` (one per micro-batch), then the health check and the
    /// figures where due.
    pub async fn take(
        &self,
        step: &mut AdclrStep,
        (s, inputs): (usize, &[StepInput]),
        micro: &mut Option<MicroBatches>,
        ranks: Option<Ranks<'_>>,
    ) -> Result<Turned> {
        let h = hyper(self.tc, self.plan, s);
        let (exchange, averaged) = take_step(self.e, step, inputs, &h, micro, ranks)?;
        let due = self.cadence.due(s + 1);
        if due.health() {
            let checked = step.check_health_async(self.e).await;
            (self.settle)(step, checked)?;
        }
        let figures = match due.figures {
            true => Some(read_figures(self.e, step, averaged).await?),
            false => None,
        };
        Ok(Turned { h, due, figures, exchange })
    }
}

#[cfg(test)]
mod tests {
    use super::{Cadence, Due};

    #[test]
    fn train_and_the_session_are_due_on_their_settings_steps() {
        let train = Cadence { total_steps: 10, figures_every: 4, knn_every: 5, knn_at_end: true, checkpoint_every: 3 };
        let due: Vec<Due> = (1..=10).map(|d| train.due(d)).collect();
        let at = |f: fn(&Due) -> bool| (1..=10).filter(|&d| f(&due[d - 1])).collect::<Vec<_>>();
        assert_eq!(at(|d| d.figures), [4, 8, 10], "every 4 and the last");
        assert_eq!(at(|d| d.knn), [5, 10], "every 5, and the last");
        assert_eq!(at(|d| d.checkpoint), [3, 6, 9], "every 3, never the last (the caller saves the end)");
        assert_eq!(at(|d| d.last), [10]);
        assert_eq!(at(|d| d.health()), [3, 4, 5, 6, 8, 9, 10], "before each read or write");
        let session = Cadence::of_session(10, 4);
        let due: Vec<Due> = (1..=10).map(|d| session.due(d)).collect();
        assert!(due.iter().all(|d| d.figures && d.health() && !d.checkpoint), "every step read, nothing saved");
        assert_eq!((1..=10).filter(|&d| due[d - 1].knn).collect::<Vec<_>>(), [4, 8], "the last is the caller's");
        let off = Cadence { knn_every: 0, knn_at_end: true, figures_every: 0, ..train };
        assert!(!off.due(10).knn && !off.due(10).figures, "0 turns k-NN and figures off, at the end too");
    }
}
