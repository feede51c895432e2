//! `adclr-wgpu ablate --grid F.toml`: trainings over a grid of settings with the same seed and
//! budget, each evaluated by k-NN; `results.md` (a table like the paper's Sec. 4.3, with
//! seed-paired differences) and `results.png`. Finished cells are skipped on a rerun, a failing
//! cell is recorded and the grid goes on; `--jobs N` runs N cells at once.
//!
//! The grid file: `out = "DIR"`, an optional `random_init = true` (adds the random-init
//! floor), optional `seeds = [0, 1, 2]` (every cell trained once per seed, reported as mean +-
//! standard deviation; default: the base seed once), `[base]` with any `train` settings (the
//! budget: `max_steps`), and either `[axes]` with a list of values per setting (the cells are
//! every combination) or `[[cells]]` tables, each a `name`, its settings and optionally its own
//! `seeds` (some of the grid's: an arm run at fewer seeds than the rest); optional
//! `reference = "NAME"` (or a list of names): the cells results.md takes seed-paired differences
//! against, a section each; optional `[[contrasts]]` tables, each a `name`, `of = ["A", "B"]`
//! and `against = ["C", "D"]`: the seed-paired difference of two differences, (A - B) - (C - D)
//! per seed (does a gain change with a setting?); optional
//! `record = "DIR"`: a folder to commit, where every finished (cell, seed) leaves its result,
//! metrics and teacher backbone and is then never trained again (`record.rs`); optional
//! `evaluate = ["knn", "linear", "dense"]` (default k-NN alone): the evaluations of every cell.
//! Each cell keeps its checkpoint (or recorded backbone), so an evaluation added to the list
//! later runs on the cells already trained without training them again.

mod cell;
pub mod paired;
pub mod record;
pub mod results;

pub use results::mean_std;

use crate::error::{Error, Result};
use crate::gpu::NativeDefaults;
use crate::train::config::TrainConfig;
use record::CellPaths;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, serde::Deserialize)]
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
    /// Named cells (instead of `[axes]`): `[[cells]]` tables, each `name = "..."` and the
    /// settings it changes from `[base]`.
    #[serde(default)]
    pub cells: Vec<toml::Table>,
    /// The cell (or cells: a list) results.md compares every other cell with, seed by seed.
    #[serde(default)]
    pub reference: Option<References>,
    /// Differences of seed-paired differences, each a section row of results.md.
    #[serde(default)]
    pub contrasts: Vec<Contrast>,
    /// A folder to commit (relative to the working directory, as `out`): each finished (cell,
    /// seed) is recorded there and not trained again.
    #[serde(default)]
    pub record: Option<String>,
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

/// `reference = "CELL"` or `reference = ["CELL", ...]`: one seed-paired section of results.md
/// per cell named.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum References {
    One(String),
    Many(Vec<String>),
}

impl References {
    pub fn names(&self) -> Vec<String> {
        match self {
            References::One(name) => vec![name.clone()],
            References::Many(names) => names.clone(),
        }
    }
}

/// `[[contrasts]]`: (`of[0]` - `of[1]`) - (`against[0]` - `against[1]`), seed by seed: whether
/// the gain of one cell over another changes with a setting (an interaction, e.g. ADCLR's gain
/// over DINO without local crops against with them).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contrast {
    pub name: String,
    pub of: [String; 2],
    pub against: [String; 2],
}

impl Contrast {
    /// The four cells it takes.
    pub fn cells(&self) -> [&str; 4] {
        [&self.of[0], &self.of[1], &self.against[0], &self.against[1]].map(|s| s.as_str())
    }
}

fn default_linear_epochs() -> usize {
    crate::eval::linear::ProbeConfig::default().epochs
}

fn default_linear_views() -> usize {
    4
}

/// How a grid evaluates its cells besides k-NN, and what their engines open with.
pub(crate) struct Evaluations {
    extra: Vec<String>,
    linear_epochs: usize,
    linear_views: usize,
    /// The command line's environment (kernel overrides, tuning cache, adapter fallbacks).
    engines: NativeDefaults,
}

/// The evaluations a grid asks for, besides k-NN (always run).
const EXTRA_EVALUATIONS: [&str; 2] = ["linear", "dense"];

/// Keys each evaluation writes into a cell's result.json (the first: whether it ran).
pub(crate) fn evaluation_key(what: &str) -> &'static str {
    match what {
        "linear" => "linear_top1",
        _ => "dense_cell_fg_miou",
    }
}

/// The extra evaluations of `grid`, checked.
fn extra_evaluations(grid: &Grid, origin: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in &grid.evaluate {
        match e.as_str() {
            "knn" => {}
            e if EXTRA_EVALUATIONS.contains(&e) && !out.iter().any(|o| o == e) => out.push(e.to_string()),
            e if EXTRA_EVALUATIONS.contains(&e) => {}
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
    /// The seeds of this cell when it runs at fewer than the grid's (`[[cells]]`'s `seeds`).
    pub seeds: Option<Vec<u64>>,
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A cell's configuration: the base with `settings` over it (validated like `train`'s flags).
fn cell_config(
    grid: &Grid,
    settings: &[(String, toml::Value)],
    origin: &str,
) -> std::result::Result<TrainConfig, String> {
    let mut table = grid.base.clone();
    for (k, v) in settings {
        table.insert(k.clone(), v.clone());
    }
    let text = toml::to_string(&table).map_err(|e| format!("{origin}: {e}"))?;
    let config = TrainConfig::from_toml(&text, origin)?;
    let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    config.adclr().map_err(|e| format!("{origin}: cell [{}]: {e}", pairs.join(", ")))?;
    Ok(config)
}

/// The grid's cells: every combination of `[axes]`, or the named `[[cells]]`.
pub fn cells(grid: &Grid, origin: &str) -> std::result::Result<Vec<Cell>, String> {
    if !grid.cells.is_empty() {
        return named_cells(grid, origin);
    }
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
            let config = cell_config(grid, &combo, origin)?;
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
            Ok(Cell { name, values, config, seeds: None })
        })
        .collect()
}

/// The `[[cells]]` of a grid: each a name (a folder name: letters, digits, `-`, `_`, `.`) and
/// the settings it changes, listed in results.md as one `settings` column.
fn named_cells(grid: &Grid, origin: &str) -> std::result::Result<Vec<Cell>, String> {
    if !grid.axes.is_empty() {
        return Err(format!("{origin}: give either [axes] or [[cells]], not both"));
    }
    let mut out: Vec<Cell> = Vec::new();
    for (i, table) in grid.cells.iter().enumerate() {
        let name = match table.get("name") {
            Some(toml::Value::String(n)) => n.clone(),
            _ => return Err(format!("{origin}: [[cells]] number {} needs name = \"...\"", i + 1)),
        };
        let fine = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if name.is_empty() || !name.chars().all(fine) || name == "random-init" || name.starts_with('.') {
            return Err(format!(
                "{origin}: cell name `{name}`: use letters, digits, `-`, `_` and `.` (not `random-init`)"
            ));
        }
        if out.iter().any(|c| c.name == name) {
            return Err(format!("{origin}: two cells are named `{name}`"));
        }
        let seeds = cell_seeds(grid, &name, table.get("seeds"), origin)?;
        let settings: Vec<(String, toml::Value)> = table
            .iter()
            .filter(|(k, _)| !["name", "seeds"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let config = cell_config(grid, &settings, origin)?;
        let text: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect();
        let shown = if text.is_empty() { "base".to_string() } else { text.join(", ") };
        out.push(Cell { name, values: vec![("settings".into(), shown)], config, seeds });
    }
    Ok(out)
}

/// A named cell's own `seeds`: a list drawn from the grid's `seeds`, in the grid's order.
fn cell_seeds(
    grid: &Grid,
    name: &str,
    value: Option<&toml::Value>,
    origin: &str,
) -> std::result::Result<Option<Vec<u64>>, String> {
    let Some(value) = value else { return Ok(None) };
    let wrong = || {
        format!("{origin}: cell `{name}`: seeds = {value}: give a list of some of the grid's seeds {:?}", grid.seeds)
    };
    let list = value.as_array().ok_or_else(wrong)?;
    let mut seeds = Vec::new();
    for v in list {
        match v.as_integer().and_then(|i| u64::try_from(i).ok()) {
            Some(s) if grid.seeds.contains(&s) && !seeds.contains(&s) => seeds.push(s),
            _ => return Err(wrong()),
        }
    }
    if seeds.is_empty() {
        return Err(wrong());
    }
    // In the grid's order, so that units stay seed by seed.
    Ok(Some(grid.seeds.iter().copied().filter(|s| seeds.contains(s)).collect()))
}

pub struct AblationReport {
    pub out: PathBuf,
    /// Cells of the grid (the random-init floor counted as one).
    pub cells: usize,
    /// Trainings (or floor evaluations): cells x seeds.
    pub runs: usize,
    /// Runs that did not run in this call but whose result was there (`--report`, or after a stop).
    pub recorded: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// One (cell, seed) to run: its row in the report, where it lives and what it trains.
struct Unit {
    row: usize,
    seed: u64,
    label: String,
    paths: CellPaths,
    config: TrainConfig,
    random: bool,
}

/// Runs (or resumes) the grid, `jobs` (cell, seed) pairs at once, on engines that open with
/// `defaults`.
pub fn ablate(
    grid_path: &Path,
    jobs: usize,
    defaults: &NativeDefaults,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<AblationReport> {
    if jobs == 0 {
        return Err(Error::Data("--jobs 0: give 1 or more (the cells trained at once)".into()));
    }
    run_grid(grid_path, Some(jobs), defaults, progress)
}

/// Every cell a reference or a contrast names is one of `cells`; an error names the first that is
/// not, with the cells there are.
pub fn check_names(grid: &Grid, cells: &[Cell], origin: &str) -> std::result::Result<(), String> {
    let known = |n: &str| cells.iter().any(|c| c.name == n);
    let names = || cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    for r in grid.reference.as_ref().map(References::names).unwrap_or_default() {
        if !known(&r) {
            return Err(format!("{origin}: reference `{r}` is not a cell ({})", names()));
        }
    }
    for c in &grid.contrasts {
        if let Some(bad) = c.cells().into_iter().find(|n| !known(n)) {
            return Err(format!("{origin}: contrast `{}`: `{bad}` is not a cell ({})", c.name, names()));
        }
    }
    Ok(())
}

/// `ablate --report`: results.md and results.png (and the record's copy) from the results
/// already there (the run folder's or the record's), training and evaluating nothing.
pub fn report(grid_path: &Path) -> Result<AblationReport> {
    run_grid(grid_path, None, &NativeDefaults::default(), &|_| {})
}

/// The grid's units run on `jobs` threads (None: none run), then the report.
fn run_grid(
    grid_path: &Path,
    jobs: Option<usize>,
    defaults: &NativeDefaults,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<AblationReport> {
    let origin = grid_path.display().to_string();
    let text = std::fs::read_to_string(grid_path).map_err(|e| Error::Data(format!("--grid {origin}: {e}")))?;
    let grid = with_recipe(toml::from_str(&text).map_err(|e| Error::Data(format!("{origin}: {e}")))?, grid_path)
        .map_err(Error::Data)?;
    if let Some(s) = grid.seeds.iter().enumerate().find(|(i, s)| grid.seeds[..*i].contains(s)) {
        return Err(Error::Data(format!("{origin}: seed {} is listed twice", s.1)));
    }
    let cells = cells(&grid, &origin).map_err(Error::Data)?;
    // Two units in one folder would train into the same checkpoint at once.
    let mut seen: Vec<&str> = Vec::new();
    for c in &cells {
        if seen.contains(&c.name.as_str()) || ["results.md", "results.png"].contains(&c.name.as_str()) {
            return Err(Error::Data(format!("{origin}: two cells, or a cell and a report, would share `{}`", c.name)));
        }
        seen.push(&c.name);
    }
    check_names(&grid, &cells, &origin).map_err(Error::Data)?;
    let references = grid.reference.as_ref().map(References::names).unwrap_or_default();
    let evals = Evaluations {
        extra: extra_evaluations(&grid, &origin).map_err(Error::Data)?,
        linear_epochs: grid.linear_epochs,
        linear_views: grid.linear_views,
        engines: defaults.clone(),
    };
    let out = PathBuf::from(&grid.out);
    let record = grid.record.as_ref().map(PathBuf::from);
    for dir in std::iter::once(&out).chain(record.as_ref()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Data(format!("{}: {e}", dir.display())))?;
    }
    // (cell name, its axis values, its configuration, random-init floor, its seeds)
    let mut rows: Vec<(String, results::AxisValues, TrainConfig, bool, Vec<u64>)> = cells
        .into_iter()
        .map(|c| {
            let seeds = match (c.seeds, grid.seeds.is_empty()) {
                (Some(own), _) => own,
                (None, true) => vec![c.config.seed],
                (None, false) => grid.seeds.clone(),
            };
            (c.name, c.values, c.config, false, seeds)
        })
        .collect();
    if grid.random_init {
        if let Some(first) = rows.first() {
            let seeds = if grid.seeds.is_empty() { vec![first.2.seed] } else { grid.seeds.clone() };
            rows.push(("random-init".into(), vec![("init".into(), "random".into())], first.2.clone(), true, seeds));
        }
    }
    // Seed by seed across the cells, so that the arms of a comparison finish together.
    let mut units = Vec::new();
    for i in 0..grid.seeds.len().max(1) {
        for (row, (name, _, config, random, seeds)) in rows.iter().enumerate() {
            // Without grid seeds, one round: each cell at its own seed.
            let seed = match grid.seeds.get(i) {
                Some(s) if seeds.contains(s) => *s,
                Some(_) => continue,
                None => seeds[0],
            };
            // One folder per cell, one sub-folder per seed when the grid lists seeds.
            let (sub, label) = match grid.seeds.is_empty() {
                true => (PathBuf::from(name), name.clone()),
                false => (Path::new(name).join(format!("seed-{seed}")), format!("{name} seed {seed}")),
            };
            let paths = CellPaths { dir: out.join(&sub), record: record.as_ref().map(|r| r.join(&sub)) };
            let config = TrainConfig { seed, ..config.clone() };
            units.push(Unit { row, seed, label, paths, config, random: *random });
        }
    }
    let outcomes = match jobs {
        Some(jobs) => run_units(&units, jobs, &evals, progress),
        None => units.iter().map(|_| None).collect(),
    };
    let mut results: Vec<Vec<(u64, serde_json::Value)>> = vec![Vec::new(); rows.len()];
    let (mut skipped, mut failed, mut recorded, mut first_error) = (0, 0, 0, None);
    for (unit, outcome) in units.iter().zip(outcomes) {
        match outcome {
            Some(Ok((v, was_done))) => {
                skipped += was_done as usize;
                failed += v.get("error").is_some() as usize;
                results[unit.row].push((unit.seed, v));
            }
            // Not started after an error, or stopped: what an earlier call recorded still counts,
            // so results.md (and the record's copy) never lose a finished cell.
            other => {
                if let Some(Err(e)) = other {
                    first_error.get_or_insert(e);
                }
                if let Some(v) = unit.paths.result() {
                    recorded += 1;
                    failed += v.get("error").is_some() as usize;
                    results[unit.row].push((unit.seed, v));
                }
            }
        }
    }
    let report_rows: Vec<results::Row> =
        rows.into_iter().zip(results).map(|((name, values, _, _, _), r)| (name, values, r)).collect();
    results::write_results(&out, record.as_deref(), &report_rows, &references, &grid.contrasts)?;
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(AblationReport { out, cells: report_rows.len(), runs: units.len(), recorded, skipped, failed })
}

/// One unit's outcome: its result and whether it was done before; None if it did not start.
type Outcome = Option<Result<(serde_json::Value, bool)>>;

/// Runs the units on `jobs` threads, in order; after an error (an interruption, a file that
/// cannot be written) no further unit starts. None: a unit that did not start.
fn run_units(units: &[Unit], jobs: usize, evals: &Evaluations, progress: &(dyn Fn(&str) + Sync)) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new((0..units.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(units.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= units.len() || stop.load(Ordering::SeqCst) {
                    break;
                }
                let u = &units[i];
                let run = || cell::run_cell(&u.paths, &u.label, (u.config.clone(), u.random), evals, progress);
                // A panic (a driver's, say) stops the grid like an error instead of tearing down
                // every thread before results.md is written.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
                    let what = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(Error::Data(format!("{}: panicked: {what}", u.label)))
                });
                if outcome.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                if let Ok(mut all) = outcomes.lock() {
                    all[i] = Some(outcome);
                }
            });
        }
    });
    outcomes.into_inner().unwrap_or_default()
}
