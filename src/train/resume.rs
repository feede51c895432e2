//! Continuing a run: which directory, whether its settings may have been edited, and the
//! metrics lines a resumed run writes again.

use crate::error::{Error, Result};
use crate::fs::write_atomic;
use std::path::Path;

/// `train --resume DIR [--force]`.
#[derive(Clone, Copy, Debug)]
pub struct ResumeFrom<'a> {
    pub dir: &'a Path,
    /// Continue although `config.toml` differs from the settings the checkpoint was trained
    /// with (the edited values apply from the resumed step on).
    pub force: bool,
}

/// Settings that may differ between a checkpoint and the directory's config.toml: where
/// the run lives (a moved directory is the same run) and the evaluation after it.
const MAY_DIFFER: [&str; 2] = ["out", "final_knn"];

/// The settings whose values differ between `saved` (the TOML stored in the checkpoint) and
/// `now` (config.toml), as "lr: 0.1 in config.toml, 0.002 in the checkpoint".
pub fn setting_changes(saved: &str, now: &str) -> Result<Vec<String>, String> {
    // Each side with the defaults of the settings it does not name (a checkpoint written before
    // a setting existed holds its default), or as written when it is not a whole configuration.
    let parse = |t: &str, what: &str| {
        let table = t.parse::<toml::Table>().map_err(|e| format!("{what} is not TOML: {e}"))?;
        Ok::<_, String>(
            crate::train::config::TrainConfig::from_toml(t, what)
                .ok()
                .and_then(|c| toml::Table::try_from(c).ok())
                .unwrap_or(table),
        )
    };
    let (saved, now) = (parse(saved, "the checkpoint's configuration")?, parse(now, "config.toml")?);
    let mut keys: Vec<&String> = saved.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&toml::Value>| v.map_or("(not set)".to_string(), |v| v.to_string());
    Ok(keys
        .into_iter()
        .filter(|k| !MAY_DIFFER.contains(&k.as_str()) && saved.get(*k) != now.get(*k))
        .map(|k| format!("{k}: {} in config.toml, {} in the checkpoint", show(now.get(k)), show(saved.get(k))))
        .collect())
}

/// Keeps the lines of metrics.jsonl up to `step` (a resumed run writes the later ones
/// again) and drops a line cut off by a crash; returns how many lines were dropped.
pub fn truncate_metrics(path: &Path, step: u64) -> Result<usize> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(0) };
    let mut kept = String::with_capacity(text.len());
    let mut dropped = 0;
    for line in text.lines() {
        let at = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("step")?.as_u64());
        match at {
            Some(s) if s <= step => {
                kept.push_str(line);
                kept.push('\n');
            }
            _ => dropped += 1,
        }
    }
    if dropped > 0 {
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(dropped)
}

/// The error for a resumed run whose config.toml was edited after its checkpoint.
pub fn edited_config_error(dir: &Path, changes: &[String]) -> Error {
    Error::Data(format!(
        "--resume {}: config.toml differs from the settings its checkpoint was trained with ({}). \
         Restore them, or add --force to continue with the edited values",
        dir.display(),
        changes.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::{setting_changes, truncate_metrics};

    #[test]
    fn edited_settings_are_listed_and_the_directory_may_move() {
        let saved = "lr = 0.002\nseed = 0\nout = \"runs/a\"\n";
        assert!(setting_changes(saved, "lr = 0.002\nseed = 0\nout = \"elsewhere\"\n").unwrap().is_empty());
        let changes = setting_changes(saved, "lr = 0.1\nseed = 0\nbatch = 16\n").unwrap();
        assert_eq!(
            changes,
            ["batch: 16 in config.toml, 8 in the checkpoint", "lr: 0.1 in config.toml, 0.002 in the checkpoint"]
        );
        // A setting the checkpoint predates, at its default, is no edit.
        assert!(setting_changes(saved, "lr = 0.002\nseed = 0\nglobal_scale_max = 1.0\n").unwrap().is_empty());
        assert!(setting_changes(saved, "lr = = 1").is_err());
    }

    #[test]
    fn metrics_after_the_resumed_step_and_cut_lines_are_dropped() {
        let dir = std::env::temp_dir().join(format!("adclr-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        std::fs::write(&path, "{\"step\":1,\"loss\":2}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4,\"lo").unwrap();
        assert_eq!(truncate_metrics(&path, 2).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"step\":1,\"loss\":2}\n{\"step\":2}\n");
        assert_eq!(truncate_metrics(&path, 2).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
