//! The checkpoint saver: writes a run's state to its directory, only when every rank finds it finite.

use super::config::TrainConfig;
use super::run_dir::{CHECKPOINT, CONFIG};
use crate::checkpoint;
use crate::data::normalization::Normalization;
use crate::dist::Collective;
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::spec::config::AdclrConfig;
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// Where a run's state is written, and the health checks that decide whether it may be.
pub(super) struct Saver<'a> {
    pub(super) e: &'a Engine,
    pub(super) tc: &'a TrainConfig,
    pub(super) cfg: &'a AdclrConfig,
    pub(super) norm: &'a Normalization,
    pub(super) total_steps: usize,
    pub(super) run_dir: &'a Path,
    /// The ranks: health is decided together, only rank 0 writes.
    pub(super) coll: &'a dyn Collective,
    /// The step of the state on disk (the last healthy one), for messages after a failure.
    pub(super) saved_step: Cell<Option<u64>>,
}

impl Saver<'_> {
    fn path(&self) -> PathBuf {
        self.run_dir.join(CHECKPOINT)
    }

    fn on_disk(&self) -> String {
        match self.saved_step.get() {
            Some(s) => format!("{} holds the last healthy state (step {s})", self.path().display()),
            None => "nothing was saved".to_string(),
        }
    }

    /// Writes the step's state, never a non-finite one (rank 0; the others hold the same).
    pub(super) fn save(&self, step: &AdclrStep) -> Result<()> {
        if !self.coll.is_root() {
            self.saved_step.set(Some(step.step));
            return Ok(());
        }
        let extra = vec![
            ("config".to_string(), self.tc.to_toml()),
            ("total_steps".to_string(), self.total_steps.to_string()),
            ("seed".to_string(), self.tc.seed.to_string()),
        ];
        let state = step.state(self.e, self.tc.seed)?;
        if let Some(name) = state.first_non_finite() {
            let term = format!("`{name}` (nothing written)");
            return Err(Error::NonFinite { step: state.step, term, kept: self.on_disk() });
        }
        checkpoint::save_training(&self.path(), &self.cfg.model, self.norm, &extra, &state)?;
        self.saved_step.set(Some(state.step));
        Ok(())
    }

    /// The health check; after a failure, back to the state before the failing step, written
    /// to disk when it is finite, and the error says which file holds the last healthy state.
    pub(super) fn healthy(&self, step: &mut AdclrStep) -> Result<()> {
        let checked = step.check_health(self.e);
        self.settle(step, checked)
    }

    /// This rank's health check (`checked`) settled over the ranks, as `healthy` (the loop's
    /// turn runs the check itself: `turn::Settle`).
    pub(super) fn settle(&self, step: &mut AdclrStep, local: Result<()>) -> Result<()> {
        if self.coll.ranks() == 1 {
            return self.after_check(step, local);
        }
        // Every rank stops at a failure of any: the first failing rank is named.
        let failed_at = match &local {
            Err(Error::NonFinite { step, .. }) => *step,
            _ => 0,
        };
        let all = self.coll.gather_u64(failed_at)?;
        let result = match (&local, all.iter().position(|&s| s > 0)) {
            (Ok(()), Some(rank)) => {
                let term = format!("a loss term or gradient on rank {rank}");
                Err(Error::NonFinite { step: all[rank], term, kept: self.on_disk() })
            }
            _ => self.after_check(step, local),
        };
        // Rank 0 has now written the state before the failure; only then may a rank end
        // (mpirun ends the whole job when one rank exits with an error).
        if all.iter().any(|&s| s > 0) {
            self.coll.any(false)?;
        }
        result
    }

    /// After a failed check: the state before the failing step, written (rank 0) when finite.
    fn after_check(&self, step: &mut AdclrStep, local: Result<()>) -> Result<()> {
        match local {
            Err(Error::NonFinite { step: failed, term, .. }) => {
                step.rewind_before(failed);
                let kept = match self.save(step) {
                    Ok(()) => format!(
                        "The state before that step is saved: {}. Continue from it with a lower learning \
                         rate: edit lr in {}, then adclr-wgpu train --resume {} --force",
                        self.on_disk(),
                        self.run_dir.join(CONFIG).display(),
                        self.run_dir.display()
                    ),
                    Err(_) => format!(
                        "The update overflowed, so the state in memory is not finite; {}. Lower the learning rate",
                        self.on_disk()
                    ),
                };
                Err(Error::NonFinite { step: failed, term, kept })
            }
            other => other,
        }
    }
}
