//! A run directory opened for training: its settings (given, or the directory's own on
//! `--resume`), the lock, the clean-up of a killed writer's leftovers, the checks of a resumed
//! state against the settings, and the metrics log (with its TensorBoard events).

use super::config::TrainConfig;
use super::lock::RunLock;
use super::resume::{edited_config_error, setting_changes, ResumeFrom};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::fs::{remove_stale_temporaries, write_atomic};
use crate::model::state::TrainingState;
use crate::spec::config::AdclrConfig;
use crate::tensorboard::{scalars_of, EventWriter};
use std::io::Write;
use std::path::{Path, PathBuf};

// The files of a run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const LOSS_PNG: &str = "loss.png";

/// How the loop reports (the CLI shows a progress bar; tests stay quiet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Progress,
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Data(format!("{}: {e}", path.display()))
}

/// The settings and directory of a run: the given ones (`--out`, or runs/PRESET-SECONDS), or on
/// `--resume` the directory's own config.toml.
pub fn settings_and_dir(tc: TrainConfig, resume: Option<ResumeFrom>) -> Result<(TrainConfig, PathBuf)> {
    if let Some(ResumeFrom { dir, .. }) = resume {
        let path = dir.join(CONFIG);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Data(format!("--resume {}: cannot read {CONFIG}: {e}", dir.display())))?;
        let tc = TrainConfig::from_toml(&text, &path.display().to_string()).map_err(Error::Data)?;
        return Ok((tc, dir.to_path_buf()));
    }
    let dir = match &tc.out {
        Some(o) => PathBuf::from(o),
        None => {
            let secs =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from("runs").join(format!("{}-{secs}", tc.preset))
        }
    };
    Ok((tc, dir))
}

/// Creates and locks the directory, removes temporaries a killed process left, and for a
/// fresh run (`fresh` holds its config.toml) refuses a directory that holds a run and writes
/// config.toml. The lock is held until the returned value is dropped.
pub fn open_run_dir(run_dir: &Path, fresh: Option<&str>, verbosity: Verbosity) -> Result<RunLock> {
    std::fs::create_dir_all(run_dir).map_err(|e| io_err(run_dir, e))?;
    let lock = RunLock::acquire(run_dir)?;
    let stale = remove_stale_temporaries(run_dir);
    if stale > 0 && verbosity == Verbosity::Progress {
        eprintln!("removed {stale} temporary file(s) a killed process left in {}", run_dir.display());
    }
    if let Some(config) = fresh {
        if run_dir.join(CHECKPOINT).exists() {
            return Err(Error::Data(format!(
                "{} already holds a run: continue it with --resume {0} or choose another --out",
                run_dir.display()
            )));
        }
        write_atomic(&run_dir.join(CONFIG), config.as_bytes())?;
    }
    Ok(lock)
}

/// The checkpoint's state, after checking that it belongs to these settings: the same model,
/// and (unless `--force`) the settings it was trained with.
pub fn resumed_state(path: &Path, cfg: &AdclrConfig, tc: &TrainConfig, r: ResumeFrom) -> Result<TrainingState> {
    let loaded = checkpoint::load_training(path)?;
    if loaded.model != cfg.model {
        return Err(Error::Checkpoint(format!("{}: its model differs from {CONFIG}", path.display())));
    }
    if let Some(saved) = loaded.metadata.get("config") {
        let changes = setting_changes(saved, &tc.to_toml()).map_err(Error::Data)?;
        if !changes.is_empty() && !r.force {
            return Err(edited_config_error(r.dir, &changes));
        }
        for c in &changes {
            eprintln!("--force: continuing with an edited setting: {c}");
        }
    }
    Ok(loaded.state)
}

/// metrics.jsonl, appended one JSON object per line, and beside it a TensorBoard event file
/// (one per call) with every number of every line under its tag (`tensorboard::tag_of`).
pub struct MetricsLog {
    file: std::fs::File,
    path: PathBuf,
    events: EventWriter,
}

impl MetricsLog {
    pub fn open(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(METRICS);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_err(&path, e))?;
        Ok(Self { file, path, events: EventWriter::create(run_dir)? })
    }

    /// As `open` for a run resumed after `steps_done` steps: TensorBoard forgets the later
    /// steps an earlier event file holds, as metrics.jsonl was cut back to them.
    pub fn open_resumed(run_dir: &Path, steps_done: usize) -> Result<Self> {
        let mut log = Self::open(run_dir)?;
        log.events.restart_at(steps_done as u64 + 1)?;
        Ok(log)
    }

    pub fn write(&mut self, line: &serde_json::Value) -> Result<()> {
        writeln!(self.file, "{line}").map_err(|e| io_err(&self.path, e))?;
        match scalars_of(line) {
            Some((step, values)) => self.events.scalars(step, &values),
            None => Ok(()),
        }
    }

    /// The event file, for figures (`EventWriter::png`).
    pub fn events(&mut self) -> &mut EventWriter {
        &mut self.events
    }
}
