//! The grid's record: a folder meant to be committed (`record = "measurements/..."` in the grid
//! file) where each finished (cell, seed) leaves what a fresh clone needs to report it and to
//! evaluate it again: result.json, metrics.jsonl, config.toml and, for a trained cell, the
//! teacher backbone (timm names, as `export` writes it). A (cell, seed) with a result there is
//! not trained again, so a grid continues from a fresh clone where the last one stopped.

use crate::checkpoint::export_backbone;
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use crate::train::run;
use std::path::{Path, PathBuf};

/// The result file of a (cell, seed), in its run folder and in the record.
pub const RESULT: &str = "result.json";
/// The teacher backbone in the record (the run folder keeps the whole training checkpoint).
pub const BACKBONE: &str = "backbone.safetensors";

/// The metrics of a run's last step that a result keeps (as `end_<name>`).
pub const END_MONITORS: [&str; 6] = [
    "query_loss",
    "teacher_batch_entropy",
    "teacher_modes",
    "teacher_batch_entropy_query",
    "teacher_modes_query",
    "centre_norm_query",
];

/// Where one (cell, seed) lives: its run folder (checkpoint, logs) and its record folder.
pub struct CellPaths {
    pub dir: PathBuf,
    pub record: Option<PathBuf>,
}

impl CellPaths {
    /// The result recorded before: the record's, else the run folder's.
    pub fn result(&self) -> Option<serde_json::Value> {
        [self.record.as_deref(), Some(self.dir.as_path())]
            .into_iter()
            .flatten()
            .find_map(|d| serde_json::from_str(&std::fs::read_to_string(d.join(RESULT)).ok()?).ok())
    }

    /// The trained weights to evaluate: the run folder's checkpoint, else the recorded backbone.
    pub fn weights(&self) -> Result<PathBuf> {
        let checkpoint = self.dir.join(run::CHECKPOINT);
        if checkpoint.exists() {
            return Ok(checkpoint);
        }
        match &self.record {
            Some(r) if r.join(BACKBONE).exists() => Ok(r.join(BACKBONE)),
            _ => Err(Error::Data(format!(
                "{}: neither a checkpoint nor a recorded {BACKBONE} to evaluate; delete its {RESULT} to train it again",
                self.dir.display()
            ))),
        }
    }

    /// The teacher monitors of the run's last logged step (run folder, else record), under
    /// `end_` names: how sharp and how spread the CLS and query teachers ended.
    pub fn end_monitors(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let text = [Some(self.dir.as_path()), self.record.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|d| std::fs::read_to_string(d.join(run::METRICS)).ok())?;
        let last = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v.get("teacher_batch_entropy").is_some())?;
        Some(
            END_MONITORS
                .iter()
                .filter_map(|k| last.get(*k).filter(|v| !v.is_null()).map(|v| (format!("end_{k}"), v.clone())))
                .collect(),
        )
    }

    /// Writes the result into the run folder and, with a record, the record's files.
    pub fn save(&self, v: &serde_json::Value, trained: bool) -> Result<()> {
        let text = format!("{v}\n");
        mkdir(&self.dir)?;
        write_atomic(&self.dir.join(RESULT), text.as_bytes())?;
        let Some(record) = &self.record else { return Ok(()) };
        mkdir(record)?;
        for name in [run::METRICS, run::CONFIG] {
            let from = self.dir.join(name);
            if from.exists() {
                let bytes = std::fs::read(&from).map_err(|e| Error::Data(format!("{}: {e}", from.display())))?;
                write_atomic(&record.join(name), &bytes)?;
            }
        }
        let checkpoint = self.dir.join(run::CHECKPOINT);
        // The backbone of the checkpoint behind this result (again after a retraining).
        if trained && checkpoint.exists() {
            export_backbone(&checkpoint, &record.join(BACKBONE))?;
        }
        // The result last: a record folder with a result is complete.
        write_atomic(&record.join(RESULT), text.as_bytes())
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Data(format!("{}: {e}", dir.display())))
}
