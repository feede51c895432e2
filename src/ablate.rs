//! `adclr-wgpu ablate --grid F.toml`: trainings over a grid of settings with the same seed and
//! budget, each evaluated by k-NN; `results.md` (a table like the paper's Sec. 4.3) and
//! `results.png`. Finished cells are skipped on a rerun, a failing cell is recorded and the
//! grid goes on.
//!
//! The grid file: `out = "DIR"`, an optional `random_init = true` (adds the random-init
//! floor), optional `seeds = [0, 1, 2]` (every cell trained once per seed, reported as mean +-
//! standard deviation; default: the base seed once), `[base]` with any `train` settings, and
//! `[axes]` with a list of values per setting; the cells are every combination of the axes;
//! optional `evaluate = ["knn", "linear", "dense"]` (default k-NN alone): the evaluations of
//! every cell. Each cell keeps its checkpoint, so an evaluation added to the list later runs on
//! the cells already trained without training them again.

use crate::data::normalization::normalization_for;
use crate::error::{Error, Result};
use crate::eval::checkpoint_knn::{knn_of, knn_of_checkpoint};
use crate::eval::features::Backbone;
use crate::figures::bars::{ablation_bars, Bar};
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
    pub seeds: Vec<u64>,
    /// A `train --config` file (relative to the grid file) whose settings `[base]` starts from.
    #[serde(default)]
    pub recipe: Option<String>,
    #[serde(default)]
    pub base: toml::Table,
    #[serde(default)]
    pub axes: toml::Table,
    /// Evaluations of every cell besides k-NN: `linear` (DINO's probe, 4 augmented views) and
    /// `dense` (`eval dense` with its defaults).
    #[serde(default)]
    pub evaluate: Vec<String>,
    /// The linear probe's epochs and augmented views per training image (`eval linear`'s
    /// defaults: 100 and 4).
    #[serde(default = "default_linear_epochs")]
    pub linear_epochs: usize,
    #[serde(default = "default_linear_views")]
    pub linear_views: usize,
}

fn default_linear_epochs() -> usize {
    crate::eval::linear::ProbeConfig::default().epochs
}

fn default_linear_views() -> usize {
    4
}

/// How a grid evaluates its cells besides k-NN.
struct Evaluations {
    extra: Vec<String>,
    linear_epochs: usize,
    linear_views: usize,
}

/// The evaluations a grid asks for, besides k-NN (always run).
const EXTRA_EVALUATIONS: [&str; 2] = ["linear", "dense"];

/// Keys each evaluation writes into a cell's result.json (the first: whether it ran).
fn evaluation_key(what: &str) -> &'static str {
    match what {
        "linear" => "linear_top1",
        _ => "dense_miou",
    }
}

/// The extra evaluations of `grid`, checked.
fn extra_evaluations(grid: &Grid, origin: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in &grid.evaluate {
        match e.as_str() {
            "knn" => {}
            e if EXTRA_EVALUATIONS.contains(&e) => out.push(e.to_string()),
            other => return Err(format!("{origin}: evaluate `{other}`: use knn, linear or dense")),
        }
    }
    Ok(out)
}

/// The grid with its `recipe`'s settings under `[base]` (base values win).
pub fn with_recipe(mut grid: Grid, grid_path: &Path) -> std::result::Result<Grid, String> {
    let Some(recipe) = &grid.recipe else { return Ok(grid) };
    let path = grid_path.parent().unwrap_or(Path::new(".")).join(recipe);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("recipe {}: {e}", path.display()))?;
    let mut table = text.parse::<toml::Table>().map_err(|e| format!("recipe {}: {e}", path.display()))?;
    table.extend(std::mem::take(&mut grid.base));
    grid.base = table;
    Ok(grid)
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

pub struct AblationReport {
    pub out: PathBuf,
    /// Cells of the grid (the random-init floor counted as one).
    pub cells: usize,
    /// Trainings (or floor evaluations): cells x seeds.
    pub runs: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Runs (or resumes) the grid.
pub fn ablate(grid_path: &Path, progress: &dyn Fn(&str)) -> Result<AblationReport> {
    let origin = grid_path.display().to_string();
    let text = std::fs::read_to_string(grid_path).map_err(|e| Error::Data(format!("--grid {origin}: {e}")))?;
    let grid = with_recipe(toml::from_str(&text).map_err(|e| Error::Data(format!("{origin}: {e}")))?, grid_path)
        .map_err(Error::Data)?;
    let cells = cells(&grid, &origin).map_err(Error::Data)?;
    let extra = Evaluations {
        extra: extra_evaluations(&grid, &origin).map_err(Error::Data)?,
        linear_epochs: grid.linear_epochs,
        linear_views: grid.linear_views,
    };
    let out = PathBuf::from(&grid.out);
    std::fs::create_dir_all(&out).map_err(|e| Error::Data(format!("{}: {e}", out.display())))?;
    let (mut runs, mut skipped, mut failed) = (0, 0, 0);
    let mut rows = Vec::new();
    // (cell name, its axis values, its configuration, random-init floor)
    let mut all: Vec<(String, AxisValues, TrainConfig, bool)> =
        cells.into_iter().map(|c| (c.name, c.values, c.config, false)).collect();
    if grid.random_init {
        if let Some(first) = all.first() {
            all.push(("random-init".into(), vec![("init".into(), "random".into())], first.2.clone(), true));
        }
    }
    for (name, values, config, random) in all {
        let seeds = if grid.seeds.is_empty() { vec![config.seed] } else { grid.seeds.clone() };
        let mut results = Vec::new();
        for &seed in &seeds {
            // One folder per cell, one sub-folder per seed when the grid lists seeds.
            let (dir, label) = match grid.seeds.is_empty() {
                true => (out.join(&name), name.clone()),
                false => (out.join(&name).join(format!("seed-{seed}")), format!("{name} seed {seed}")),
            };
            let config = TrainConfig { seed, ..config.clone() };
            runs += 1;
            let (v, was_done) = run_cell(&dir, &label, (config, random), &extra, progress)?;
            skipped += was_done as usize;
            failed += v.get("error").is_some() as usize;
            results.push((seed, v));
        }
        rows.push((name, values, results));
    }
    write_results(&out, &rows)?;
    Ok(AblationReport { out, cells: rows.len(), runs, skipped, failed })
}

/// Trains and evaluates one (cell, seed), or reads its result from a previous run of the grid.
/// Returns the result and whether it was done before.
fn run_cell(
    dir: &Path,
    label: &str,
    (mut config, random): (TrainConfig, bool),
    evals: &Evaluations,
    progress: &dyn Fn(&str),
) -> Result<(serde_json::Value, bool)> {
    let extra = &evals.extra;
    let result_path = dir.join("result.json");
    if let Ok(done) = std::fs::read_to_string(&result_path) {
        if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&done) {
            let missing: Vec<&String> = extra.iter().filter(|e| v.get(evaluation_key(e)).is_none()).collect();
            if missing.is_empty() {
                progress(&format!("{label}: done before, skipped"));
                return Ok((v, true));
            }
            config.out = Some(dir.display().to_string());
            for what in missing {
                progress(&format!("{label}: trained before; {what} evaluation"));
                add_evaluation(dir, (&config, random), (what, evals), &mut v)?;
            }
            crate::fs::write_atomic(&result_path, v.to_string().as_bytes())?;
            progress(&format!("{label}: {v}"));
            return Ok((v, false));
        }
    }
    progress(&format!("{label}: {}", if random { "evaluating the random initialisation" } else { "training" }));
    config.out = Some(dir.display().to_string());
    let started = std::time::Instant::now();
    let outcome = (|| -> Result<serde_json::Value> {
        let choice =
            AdapterChoice { backend: config.backend.clone(), adapter: config.adapter, limits: config.limits.clone() };
        let (knn, loss, steps) = if random {
            let e = Engine::open(&choice)?;
            let cfg = config.adclr().map_err(Error::Data)?;
            let b = Backbone::random(cfg.model, normalization_for(&config.data), config.seed)?;
            (knn_of(&e, &b, &config.data)?, None, 0)
        } else {
            let resume =
                dir.join(run::CHECKPOINT).exists().then_some(crate::train::resume::ResumeFrom { dir, force: false });
            let t = train(config.clone(), resume, Verbosity::Quiet, None)?;
            if t.interrupted {
                return Err(Error::Data("interrupted".into()));
            }
            (knn_of_checkpoint(&dir.join(run::CHECKPOINT), &config.data, &choice)?, t.final_loss, t.steps_done)
        };
        Ok(json!({ "top1": knn.top1, "top5": knn.top5, "final_loss": loss, "steps": steps, "seed": config.seed }))
    })();
    let mut v = match outcome {
        Ok(v) => v,
        Err(e) => json!({ "error": e.to_string(), "seed": config.seed }),
    };
    if v.get("error").is_none() {
        for what in extra {
            progress(&format!("{label}: {what} evaluation"));
            add_evaluation(dir, (&config, random), (what, evals), &mut v)?;
        }
    }
    // Ctrl-C or SIGTERM: the training wrote its checkpoint; nothing is recorded for the cell,
    // and the grid stops (the same command continues it).
    if run::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::Data(format!(
            "{label}: interrupted at a checkpoint in {}; run the same ablate command again to continue",
            dir.display()
        )));
    }
    v["seconds"] = json!(started.elapsed().as_secs_f64());
    std::fs::create_dir_all(dir).map_err(|e| Error::Data(format!("{}: {e}", dir.display())))?;
    // Failed runs are recorded but retried on the next run (no result.json for them).
    let target = if v.get("error").is_some() { dir.join("error.json") } else { result_path };
    crate::fs::write_atomic(&target, v.to_string().as_bytes())?;
    progress(&format!("{label}: {v}"));
    Ok((v, false))
}

/// Runs one extra evaluation of a cell (its checkpoint, or for the floor its random
/// initialisation) and adds its figures to the cell's result; a failure is recorded under
/// `<what>_error` and retried on the next run of the grid.
fn add_evaluation(
    dir: &Path,
    (config, random): (&TrainConfig, bool),
    (what, evals): (&str, &Evaluations),
    v: &mut serde_json::Value,
) -> Result<()> {
    use crate::data::dataset::{Dataset, Split};
    let figures = (|| -> Result<serde_json::Value> {
        let choice =
            AdapterChoice { backend: config.backend.clone(), adapter: config.adapter, limits: config.limits.clone() };
        let e = Engine::open(&choice)?;
        let b = match random {
            true => {
                let cfg = config.adclr().map_err(Error::Data)?;
                Backbone::random(cfg.model, normalization_for(&config.data), config.seed)?
            }
            false => Backbone::load(&dir.join(run::CHECKPOINT))?,
        };
        let open = |split| Dataset::open(&config.data, split).map_err(Error::Data);
        let (train_ds, test_ds) = (open(Split::Train)?, open(Split::Test)?);
        let quiet = |_: &str| {};
        Ok(match what {
            "linear" => {
                let probe = crate::eval::linear::ProbeConfig {
                    seed: config.seed,
                    epochs: evals.linear_epochs,
                    ..Default::default()
                };
                let r = crate::eval::linear::probe(&e, &b, (&train_ds, &test_ds), &probe, evals.linear_views, &quiet)?;
                json!({ "linear_top1": r.top1 })
            }
            _ => {
                let s = crate::eval::dense::DenseSettings::default();
                let r = crate::eval::dense::evaluate(&e, &b, (&train_ds, &test_ds), &s, &quiet)?;
                json!({
                    "dense_miou": r.miou.value, "dense_miou_interval": [r.miou.low, r.miou.high],
                    "dense_patch_knn": r.patch_knn.value, "dense_patch_knn_interval": [r.patch_knn.low, r.patch_knn.high],
                    "dense_cls_broadcast_miou": r.cls_broadcast_miou.value,
                })
            }
        })
    })();
    match figures {
        Ok(serde_json::Value::Object(f)) => {
            f.into_iter().for_each(|(k, x)| v[k] = x);
            if let Some(o) = v.as_object_mut() {
                o.remove(&format!("{what}_error"));
            }
        }
        Ok(_) => {}
        Err(e) => v[format!("{what}_error")] = json!(e.to_string()),
    }
    Ok(())
}

/// Mean and sample standard deviation (n - 1; 0 for one value) of the values.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    (mean, var.sqrt())
}

/// (axis, value) pairs naming one cell of the grid.
type AxisValues = Vec<(String, String)>;

/// A cell's name, axis values and the result of each of its seeds.
type Row = (String, AxisValues, Vec<(u64, serde_json::Value)>);

/// Mean +- std of a number over a cell's successful seeds.
fn over_seeds(results: &[(u64, serde_json::Value)], key: &str) -> (f64, f64, usize) {
    let values: Vec<f64> = results.iter().filter_map(|(_, v)| v[key].as_f64()).collect();
    let (mean, std) = mean_std(&values);
    (mean, std, values.len())
}

fn write_results(out: &Path, rows: &[Row]) -> Result<()> {
    let mut keys: Vec<String> = Vec::new();
    for (_, values, _) in rows {
        for (k, _) in values {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let floor = rows.iter().find(|(name, _, _)| name == "random-init").map(|(_, _, r)| over_seeds(r, "top1"));
    // Columns of the extra evaluations some cell has: mean +- std over seeds (gain over the floor).
    let extra: Vec<(&str, &str)> = [
        ("linear_top1", "linear top-1"),
        ("dense_miou", "dense probe mIoU"),
        ("dense_patch_knn", "patch k-NN top-1"),
        ("dense_cls_broadcast_miou", "CLS-broadcast mIoU"),
    ]
    .into_iter()
    .filter(|(key, _)| rows.iter().any(|(_, _, r)| r.iter().any(|(_, v)| v[*key].is_number())))
    .collect();
    let mut md = String::from("| cell | ");
    md += &keys.join(" | ");
    md += " | k-NN top-1 (mean +- std) | gain over floor | seeds | top-1 per seed | top-5 | final loss | steps | minutes |";
    for (_, title) in &extra {
        md += &format!(" {title} (gain) |");
    }
    md += "\n|---|";
    md += &"---|".repeat(keys.len() + 8 + extra.len());
    md.push('\n');
    for (name, values, results) in rows {
        let cell = |k: &str| values.iter().find(|(kk, _)| kk == k).map_or("-".to_string(), |(_, v)| v.clone());
        let (top1, std1, ok) = over_seeds(results, "top1");
        let (top5, std5, _) = over_seeds(results, "top5");
        let (loss, _, with_loss) = over_seeds(results, "final_loss");
        let steps = results.iter().filter_map(|(_, v)| v["steps"].as_u64()).max().unwrap_or(0);
        let minutes = results.iter().filter_map(|(_, v)| v["seconds"].as_f64()).sum::<f64>() / 60.0;
        let per_seed: Vec<String> = results
            .iter()
            .map(|(seed, v)| match v["top1"].as_f64() {
                Some(t) => format!("{seed}: {t:.1}"),
                None => format!("{seed}: failed ({})", v["error"].as_str().unwrap_or("?").replace('|', "/")),
            })
            .collect();
        let num = |x: f64, std: f64| if ok > 0 { format!("{x:.1} +- {std:.1}") } else { "-".into() };
        let gain = match floor {
            Some((f, _, n)) if n > 0 && ok > 0 && name != "random-init" => format!("{:+.1}", top1 - f),
            _ => "-".into(),
        };
        let mut line = format!("| {name} | ");
        let extra_cells: Vec<String> = extra
            .iter()
            .map(|(key, _)| {
                let (m, s, n) = over_seeds(results, key);
                let f = rows.iter().find(|(r, _, _)| r == "random-init").map(|(_, _, r)| over_seeds(r, key));
                match (n, f) {
                    (0, _) => "-".to_string(),
                    (_, Some((fm, _, fnum))) if fnum > 0 && name != "random-init" => {
                        format!("{m:.1} +- {s:.1} ({:+.1})", m - fm)
                    }
                    _ => format!("{m:.1} +- {s:.1}"),
                }
            })
            .collect();
        line += &keys.iter().map(|k| cell(k)).collect::<Vec<_>>().join(" | ");
        line += &format!(
            " | {} | {gain} | {ok}/{} | {} | {} | {} | {steps} | {minutes:.1} |",
            num(top1, std1),
            results.len(),
            per_seed.join(", "),
            num(top5, std5),
            if with_loss > 0 { format!("{loss:.3}") } else { "-".into() },
        );
        for c in &extra_cells {
            line += &format!(" {c} |");
        }
        md += &line;
        md.push('\n');
    }
    crate::fs::write_atomic(&out.join("results.md"), md.as_bytes())?;
    let bar = |(name, _, results): &Row| {
        let (mean, std, seeds) = over_seeds(results, "top1");
        (seeds > 0).then(|| Bar { label: name.clone(), mean, std, seeds })
    };
    let bars: Vec<Bar> = rows.iter().filter(|r| r.0 != "random-init").filter_map(bar).collect();
    let floor_bar = rows.iter().find(|r| r.0 == "random-init").and_then(bar);
    let steps = rows.iter().flat_map(|r| r.2.iter()).filter_map(|(_, v)| v["steps"].as_u64()).max().unwrap_or(0);
    let png = ablation_bars(&bars, floor_bar.as_ref(), &format!("{steps} steps per run"))
        .map_err(|e| Error::Data(format!("results.png: {e}")))?;
    crate::fs::write_atomic(&out.join("results.png"), &png)
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12 && (s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
