//! `adclr-wgpu ablate --grid F.toml`: trainings over a grid of settings with the same seed and
//! budget, each evaluated by k-NN; `results.md` (a table like the paper's Sec. 4.3) and
//! `results.png`. Finished cells are skipped on a rerun, a failing cell is recorded and the
//! grid goes on.
//!
//! The grid file: `out = "DIR"`, an optional `random_init = true` (adds the random-init
//! floor), `[base]` with any `train` settings, and `[axes]` with a list of values per setting;
//! the cells are every combination of the axes.

use super::features::{dataset_features, Backbone};
use super::knn;
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::{AdapterChoice, Engine};
use crate::train::config::TrainConfig;
use crate::train::run::{self, train, Verbosity};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub out: String,
    #[serde(default)]
    pub random_init: bool,
    #[serde(default)]
    pub base: toml::Table,
    #[serde(default)]
    pub axes: toml::Table,
}

/// One cell: a name from its axis values and the full configuration.
pub struct Cell {
    pub name: String,
    pub values: Vec<(String, String)>,
    pub config: TrainConfig,
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every combination of the axes applied to the base (validated like `train`'s flags).
pub fn cells(grid: &Grid, origin: &str) -> std::result::Result<Vec<Cell>, String> {
    let mut combos: Vec<Vec<(String, toml::Value)>> = vec![vec![]];
    for (key, values) in &grid.axes {
        let list = values.as_array().ok_or_else(|| format!("{origin}: axes.{key} must be a list"))?;
        if list.is_empty() {
            return Err(format!("{origin}: axes.{key} is empty"));
        }
        combos = combos
            .into_iter()
            .flat_map(|c| list.iter().map(move |v| [c.clone(), vec![(key.clone(), v.clone())]].concat()))
            .collect();
    }
    combos
        .into_iter()
        .map(|combo| {
            let mut table = grid.base.clone();
            for (k, v) in &combo {
                table.insert(k.clone(), v.clone());
            }
            let text = toml::to_string(&table).map_err(|e| format!("{origin}: {e}"))?;
            let config = TrainConfig::from_toml(&text, origin)?;
            config.adclr().map_err(|e| format!("{origin}: cell {combo:?}: {e}"))?;
            let values: Vec<(String, String)> = combo.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
            let name = if values.is_empty() {
                "base".to_string()
            } else {
                values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
                    .replace(['/', ' ', '+'], "_")
            };
            Ok(Cell { name, values, config })
        })
        .collect()
}

fn knn_of(e: &Engine, b: &Backbone, data: &str) -> Result<knn::KnnResult> {
    let train_ds = Dataset::open(data, Split::Train).map_err(Error::Data)?;
    let test_ds = Dataset::open(data, Split::Test).map_err(Error::Data)?;
    if train_ds.labels.is_none() || test_ds.labels.is_none() {
        return Err(Error::Data(format!("{data}: k-NN needs labelled train and test splits")));
    }
    if train_ds.origin == test_ds.origin {
        return Err(Error::Data(format!("{data}: k-NN needs separate train and val (or test) sub-folders")));
    }
    let quiet = |_: usize, _: usize| {};
    let bank = dataset_features(e, b, &train_ds, 64, &quiet)?;
    let queries = dataset_features(e, b, &test_ds, 64, &quiet)?;
    knn::evaluate(e, bank.features, &bank.labels, queries.features, &queries.labels, bank.dim, 20, 0.07)
}

/// k-NN top-1/top-5 of a finished run directory's teacher.
pub fn knn_of_run(run_dir: &Path, data: &str, choice: &AdapterChoice) -> Result<knn::KnnResult> {
    let e = Engine::open(choice)?;
    let b = Backbone::load(&run_dir.join(run::CHECKPOINT))?;
    knn_of(&e, &b, data)
}

pub struct AblationReport {
    pub out: PathBuf,
    pub cells: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Runs (or resumes) the grid.
pub fn ablate(grid_path: &Path, progress: &dyn Fn(&str)) -> Result<AblationReport> {
    let origin = grid_path.display().to_string();
    let text = std::fs::read_to_string(grid_path).map_err(|e| Error::Data(format!("--grid {origin}: {e}")))?;
    let grid: Grid = toml::from_str(&text).map_err(|e| Error::Data(format!("{origin}: {e}")))?;
    let cells = cells(&grid, &origin).map_err(Error::Data)?;
    let out = PathBuf::from(&grid.out);
    std::fs::create_dir_all(&out).map_err(|e| Error::Data(format!("{}: {e}", out.display())))?;
    let (mut skipped, mut failed) = (0, 0);
    let mut rows = Vec::new();
    // (cell name, its axis values, its configuration, random-init floor)
    let mut all: Vec<(String, AxisValues, TrainConfig, bool)> =
        cells.into_iter().map(|c| (c.name, c.values, c.config, false)).collect();
    if grid.random_init {
        if let Some(first) = all.first() {
            all.push(("random-init".into(), vec![("init".into(), "random".into())], first.2.clone(), true));
        }
    }
    for (name, values, mut config, random) in all {
        let dir = out.join(&name);
        let result_path = dir.join("result.json");
        if let Ok(done) = std::fs::read_to_string(&result_path) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&done) {
                skipped += 1;
                progress(&format!("{name}: done before, skipped"));
                rows.push((name, values, v));
                continue;
            }
        }
        progress(&format!("{name}: training"));
        config.out = Some(dir.display().to_string());
        let started = std::time::Instant::now();
        let outcome = (|| -> Result<serde_json::Value> {
            let choice = AdapterChoice { backend: config.backend.clone(), adapter: config.adapter };
            let (knn, loss, steps) = if random {
                let e = Engine::open(&choice)?;
                let cfg = config.adclr().map_err(Error::Data)?;
                let b = Backbone::random(cfg.model, run::normalization_for(&config.data), config.seed)?;
                (knn_of(&e, &b, &config.data)?, None, 0)
            } else {
                let resume = dir.join(run::CHECKPOINT).exists().then_some(dir.as_path());
                let t = train(config.clone(), resume, Verbosity::Quiet, None)?;
                (knn_of_run(&dir, &config.data, &choice)?, t.final_loss, t.steps_done)
            };
            Ok(json!({ "top1": knn.top1, "top5": knn.top5, "final_loss": loss, "steps": steps }))
        })();
        let mut v = match outcome {
            Ok(v) => v,
            Err(e) => {
                failed += 1;
                json!({ "error": e.to_string() })
            }
        };
        v["seconds"] = json!(started.elapsed().as_secs_f64());
        std::fs::create_dir_all(&dir).map_err(|e| Error::Data(format!("{}: {e}", dir.display())))?;
        // Failed cells are recorded but retried on the next run (no result.json for them).
        let target = if v.get("error").is_some() { dir.join("error.json") } else { result_path };
        crate::checkpoint::write_atomic(&target, v.to_string().as_bytes())?;
        progress(&format!("{name}: {v}"));
        rows.push((name, values, v));
    }
    write_results(&out, &rows)?;
    Ok(AblationReport { out, cells: rows.len(), skipped, failed })
}

/// (axis, value) pairs naming one cell of the grid.
type AxisValues = Vec<(String, String)>;

fn write_results(out: &Path, rows: &[(String, AxisValues, serde_json::Value)]) -> Result<()> {
    let mut keys: Vec<String> = Vec::new();
    for (_, values, _) in rows {
        for (k, _) in values {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut md = String::from("| cell | ");
    md += &keys.join(" | ");
    md += " | k-NN top-1 | k-NN top-5 | final loss | steps | seconds |\n|---|";
    md += &"---|".repeat(keys.len() + 5);
    md.push('\n');
    for (name, values, v) in rows {
        let cell = |k: &str| values.iter().find(|(kk, _)| kk == k).map_or("-".to_string(), |(_, v)| v.clone());
        let num = |k: &str, digits: usize| v[k].as_f64().map_or("-".to_string(), |x| format!("{x:.digits$}"));
        let mut line = format!("| {name} | ");
        line += &keys.iter().map(|k| cell(k)).collect::<Vec<_>>().join(" | ");
        match v.get("error") {
            Some(err) => {
                line += &format!(
                    " | failed: {} | | | | {} |",
                    err.as_str().unwrap_or("?").replace('|', "/"),
                    num("seconds", 0)
                )
            }
            None => {
                line += &format!(
                    " | {} | {} | {} | {} | {} |",
                    num("top1", 1),
                    num("top5", 1),
                    num("final_loss", 3),
                    num("steps", 0),
                    num("seconds", 0)
                )
            }
        }
        md += &line;
        md.push('\n');
    }
    crate::checkpoint::write_atomic(&out.join("results.md"), md.as_bytes())?;
    // Bars of top-1 per cell, in order.
    let (w, h) = (60 * rows.len().max(1) as u32 + 40, 300u32);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for (i, (_, _, v)) in rows.iter().enumerate() {
        let top1 = v["top1"].as_f64().unwrap_or(0.0).clamp(0.0, 100.0);
        let bar = (top1 / 100.0 * (h - 40) as f64) as u32;
        let color = if v.get("error").is_some() { image::Rgb([200, 0, 0]) } else { image::Rgb([31, 119, 180]) };
        for x in 30 + 60 * i as u32..30 + 60 * i as u32 + 40 {
            for y in (h - 20 - bar)..(h - 20) {
                img.put_pixel(x, y, color);
            }
        }
    }
    for x in 20..w - 10 {
        img.put_pixel(x, h - 20, image::Rgb([0, 0, 0]));
    }
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Data(format!("results.png: {e}")))?;
    crate::checkpoint::write_atomic(&out.join("results.png"), &png)
}
