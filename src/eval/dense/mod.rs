//! `eval dense`: how good a backbone's patch tokens are for dense labelling, on scenes of four
//! Fashion-MNIST items (`data::scenes`, 2x2 cells of 32 px, one item each). Every patch is
//! labelled with its item's class or background; foreground mIoU (the ten item classes) and
//! background IoU are reported apart, since background is half the patches and easy.
//!
//! Two layouts of the backbone (`layouts.rs`): each cell encoded alone as in pre-training, and
//! the whole scene with interpolated positions. Three measures of each, on the last blocks'
//! patch tokens: the linear probe (exact ridge least squares, strength chosen on held-out
//! training scenes, three probe seeds: `ridge.rs`), the foreground patch k-NN and a retrieval
//! labelling in the style of Hummingbird (each test patch takes the soft vote of its k nearest
//! training patches; no training), both on centred, L2-normalised features.
//!
//! Controls beside every result: raw pixels + position (what any patch token knows), a positive
//! control that gives each patch its cell's pooled pixels (item identity; the benchmark can
//! register a gain only where it beats the random-init floor widely) and, with
//! `evaluate_against_floor`, the random-init floor with paired bootstrap differences over the
//! test scenes. Intervals: 95% percentile bootstrap over test scenes.

pub mod layouts;
pub mod ridge;
pub mod scoring;

pub use crate::data::scenes::SCENE_SIDE;
pub use layouts::Layout;
pub use scoring::{Estimate, Labelling};

use super::features::{evenly_spaced, Backbone};
use super::knn::{nearest, vote};
use crate::data::dataset::Dataset;
use crate::data::scenes::{layout, Scene};
use crate::error::{Error, Result};
use crate::gpu::Engine;
use layouts::{PatchRows, Rendered};
use scoring::{confusion, Confusion};

/// Item classes of the source split (Fashion-MNIST's 10); label `CLASSES` is background.
pub const CLASSES: usize = 10;
pub const BACKGROUND: usize = CLASSES;

/// How far the positive control must beat the random-init floor (foreground mIoU points, cell
/// layout) for the benchmark to count as able to register a gain.
pub const VALID_MARGIN: f64 = 20.0;

/// k-NN and retrieval: neighbours and temperature (DINO's k-NN settings).
const NEIGHBOURS: usize = 20;
const TEMPERATURE: f32 = 0.07;

/// What `eval dense` runs.
#[derive(Clone, Debug)]
pub struct DenseSettings {
    /// Scenes from the train split (probe training, k-NN bank) and from the test split.
    pub train_scenes: usize,
    pub test_scenes: usize,
    /// Seed of the scene layouts (items, classes, offsets).
    pub scene_seed: u64,
    /// Probe seeds: each draws the held-out fifth that chooses the ridge strength.
    pub probe_seeds: usize,
    /// The last blocks whose patch tokens are concatenated (at most the depth).
    pub blocks: usize,
    /// Training patches in the k-NN and retrieval banks (evenly spaced; 0: all).
    pub knn_bank: usize,
    /// Bootstrap resamples of the test scenes.
    pub bootstrap: usize,
    /// Images per encoder forward.
    pub batch: usize,
}

impl Default for DenseSettings {
    fn default() -> Self {
        Self {
            train_scenes: 1_000,
            test_scenes: 500,
            scene_seed: 0,
            probe_seeds: 3,
            blocks: 3,
            knn_bank: 20_000,
            bootstrap: 200,
            batch: 64,
        }
    }
}

impl DenseSettings {
    fn check(&self) -> Result<()> {
        let bad = |flag: &str, why: &str| Err(Error::Data(format!("{flag}: {why}")));
        match self {
            s if s.train_scenes < 5 => bad("--train-scenes", "needs at least 5 (a fifth is held out for the probe)"),
            s if s.test_scenes == 0 => bad("--test-scenes", "needs at least 1"),
            s if s.probe_seeds == 0 => bad("--probe-seeds", "needs at least 1"),
            s if s.blocks == 0 => bad("--blocks", "needs at least 1"),
            s if s.batch == 0 => bad("--batch", "needs at least 1"),
            _ => Ok(()),
        }
    }
}

/// Scenes of a labelled split, laid out from its labels.
pub fn scenes_of(ds: &Dataset, count: usize, seed: u64) -> Result<Vec<Scene>> {
    let labels = ds.labels.as_ref().ok_or_else(|| Error::Data(format!("{}: dense scenes need labels", ds.origin)))?;
    if labels.iter().any(|&l| l >= CLASSES) {
        return Err(Error::Data(format!("{}: dense scenes need labels below {CLASSES}", ds.origin)));
    }
    let scenes = layout(labels, CLASSES, count, seed).map_err(Error::Data)?;
    if scenes.is_empty() {
        return Err(Error::Data(format!("{}: too few items for one scene of four classes", ds.origin)));
    }
    Ok(scenes)
}

/// The probe's figures on one feature set.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProbeFigures {
    /// Mean over the probe seeds, interval over test scenes.
    pub fg_miou: Estimate,
    pub bg_iou: Estimate,
    /// Foreground mIoU and the chosen ridge strength of each probe seed.
    pub fg_miou_per_seed: Vec<f64>,
    pub ridge_per_seed: Vec<f64>,
}

/// One layout's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayoutFigures {
    pub layout: &'static str,
    pub probe: ProbeFigures,
    /// Foreground patches' k-NN top-1 (%) against the training scenes' foreground patches.
    pub patch_knn: Estimate,
    /// Every test patch labelled by its neighbours among the training patches.
    pub retrieval: Labelling,
}

/// The dense figures of one backbone, with the pixel controls.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DenseResult {
    pub cell: LayoutFigures,
    pub scene: LayoutFigures,
    pub pixels_position: ProbeFigures,
    pub positive_control: ProbeFigures,
    pub blocks: usize,
    pub feature_dim: usize,
    pub grid: usize,
    pub train_scenes: usize,
    pub test_scenes: usize,
}

/// A backbone against its random initialisation: both results and paired differences.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DenseComparison {
    pub backbone: DenseResult,
    pub random_init_floor: DenseResult,
    /// Probe foreground mIoU, backbone - floor, paired over test scenes.
    pub cell_gain_over_floor: Estimate,
    pub scene_gain_over_floor: Estimate,
    /// Positive control - floor (cell layout): the gain the benchmark can register.
    pub positive_control_over_floor: Estimate,
    /// Whether that margin is at least `VALID_MARGIN`.
    pub valid: bool,
    /// A second backbone on the same scenes (`--against`), with the paired differences.
    pub against: Option<Against>,
}

/// A second backbone (e.g. DINO's beside ADCLR's) on the same scenes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Against {
    pub result: DenseResult,
    /// Probe foreground mIoU, backbone - this one, paired over test scenes.
    pub cell_difference: Estimate,
    pub scene_difference: Estimate,
}

/// A probe's figures with the labellings behind them (for paired differences).
struct Probed {
    figures: ProbeFigures,
    confusions: Vec<Confusion>,
}

/// Both splits rendered, the bootstrap draws and the pixel controls: all a backbone's
/// evaluation shares with the others on the same scenes.
struct Prepared {
    train: Rendered,
    test: Rendered,
    draws: Vec<Vec<usize>>,
    pixels_position: Probed,
    positive: Probed,
}

fn prepare(
    (train_ds, test_ds): (&Dataset, &Dataset),
    patch: usize,
    s: &DenseSettings,
    progress: &dyn Fn(&str),
) -> Result<Prepared> {
    s.check()?;
    let train_scenes = scenes_of(train_ds, s.train_scenes, s.scene_seed)?;
    let test_scenes = scenes_of(test_ds, s.test_scenes, s.scene_seed.wrapping_add(1))?;
    if train_scenes.len() < 5 {
        return Err(Error::Data(format!("{}: {} scenes; the probe needs 5", train_ds.origin, train_scenes.len())));
    }
    progress(&format!("{} train and {} test scenes", train_scenes.len(), test_scenes.len()));
    let train = layouts::render(train_ds, &train_scenes, patch)?;
    let test = layouts::render(test_ds, &test_scenes, patch)?;
    let draws = scoring::resamples(test_scenes.len(), s.bootstrap, s.scene_seed);
    progress("controls: pixels + position, and the positive control");
    let control = |with_cell| {
        let rows = (layouts::pixel_rows(&train, with_cell), layouts::pixel_rows(&test, with_cell));
        probe(rows, (&train, &test), s, &draws)
    };
    let pixels_position = control(false)?;
    let positive = control(true)?;
    Ok(Prepared { train, test, draws, pixels_position, positive })
}

/// The ridge probe on a feature set, once per probe seed.
fn probe(
    (mut train, mut test): (PatchRows, PatchRows),
    (tr, te): (&Rendered, &Rendered),
    s: &DenseSettings,
    draws: &[Vec<usize>],
) -> Result<Probed> {
    layouts::standardize(&mut train, &mut test);
    let per = tr.grid * tr.grid;
    let seeds: Vec<u64> = (0..s.probe_seeds as u64).collect();
    let runs = ridge::fit_and_predict(
        &ridge::Rows { x: &train.x, labels: &tr.labels, dim: train.dim, per_scene: per },
        &ridge::Rows { x: &test.x, labels: &te.labels, dim: test.dim, per_scene: per },
        CLASSES + 1,
        &seeds,
    )?;
    let confusions: Vec<Confusion> = runs.iter().map(|r| confusion(&r.predicted, &te.labels, per)).collect();
    let labelling = scoring::score(&confusions, draws);
    let fg_miou_per_seed =
        confusions.iter().map(|c| scoring::miou_of(c, scoring::Classes::Foreground, &mut (0..c.len()))).collect();
    Ok(Probed {
        figures: ProbeFigures {
            fg_miou: labelling.fg_miou,
            bg_iou: labelling.bg_iou,
            fg_miou_per_seed,
            ridge_per_seed: runs.iter().map(|r| r.lambda).collect(),
        },
        confusions,
    })
}

/// Rows `idx` of a [rows, dim] matrix.
fn pick(x: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter().flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied()).collect()
}

/// Foreground patch k-NN and the retrieval labelling of one feature set.
fn neighbours(
    e: &Engine,
    (train, test): (&PatchRows, &PatchRows),
    p: &Prepared,
    s: &DenseSettings,
) -> Result<(Estimate, Labelling)> {
    let d = train.dim;
    let (bank_all, query_all) = layouts::centre_and_normalize(train, test);
    let (train_labels, test_labels) = (&p.train.labels, &p.test.labels);
    let per = p.test.grid * p.test.grid;
    let fg = |labels: &[usize]| -> Vec<usize> { (0..labels.len()).filter(|&i| labels[i] != BACKGROUND).collect() };
    let (train_fg, test_fg) = (fg(train_labels), fg(test_labels));
    if train_fg.is_empty() || test_fg.is_empty() {
        return Err(Error::Data("no foreground patches in the scenes".into()));
    }
    // Foreground k-NN: per test scene (correct, queries).
    let bank: Vec<usize> = evenly_spaced(train_fg.len(), s.knn_bank).into_iter().map(|i| train_fg[i]).collect();
    let bank_labels: Vec<usize> = bank.iter().map(|&i| train_labels[i]).collect();
    let tops = nearest(e, pick(&bank_all, d, &bank), pick(&query_all, d, &test_fg), d, NEIGHBOURS)?;
    let mut by_scene = vec![(0usize, 0usize); test_labels.len() / per];
    for (top, &i) in tops.iter().zip(&test_fg) {
        let hit = vote(top, &bank_labels, CLASSES, TEMPERATURE)[0] == test_labels[i];
        let entry = &mut by_scene[i / per];
        entry.0 += usize::from(hit);
        entry.1 += 1;
    }
    let stat = |scenes: &mut dyn Iterator<Item = usize>| {
        let (hit, all) = scenes.fold((0, 0), |(h, a), s| (h + by_scene[s].0, a + by_scene[s].1));
        100.0 * hit as f64 / all.max(1) as f64
    };
    let patch_knn = scoring::bootstrap(by_scene.len(), &p.draws, &stat);
    // Retrieval: every test patch, a bank of every kind of training patch.
    let bank: Vec<usize> = evenly_spaced(train_labels.len(), s.knn_bank);
    let bank_labels: Vec<usize> = bank.iter().map(|&i| train_labels[i]).collect();
    let tops = nearest(e, pick(&bank_all, d, &bank), query_all, d, NEIGHBOURS)?;
    let predicted: Vec<usize> = tops.iter().map(|t| vote(t, &bank_labels, CLASSES + 1, TEMPERATURE)[0]).collect();
    let retrieval = scoring::score(&[confusion(&predicted, test_labels, per)], &p.draws);
    Ok((patch_knn, retrieval))
}

/// One layout of one backbone: figures and the probe's labellings.
fn layout_figures(
    e: &Engine,
    b: &Backbone,
    p: &Prepared,
    (layout, s): (Layout, &DenseSettings),
    progress: &dyn Fn(&str),
) -> Result<(LayoutFigures, Vec<Confusion>, usize)> {
    progress(&format!("{} layout: patch tokens of the last {} blocks", layout.name(), s.blocks.min(b.model.depth)));
    let train = layouts::backbone_rows(e, b, &p.train, (layout, s.blocks), s.batch)?;
    let test = layouts::backbone_rows(e, b, &p.test, (layout, s.blocks), s.batch)?;
    let dim = train.dim;
    progress(&format!("{} layout: patch k-NN and retrieval", layout.name()));
    let (patch_knn, retrieval) = neighbours(e, (&train, &test), p, s)?;
    progress(&format!("{} layout: ridge probe, {} seeds", layout.name(), s.probe_seeds));
    let probed = probe((train, test), (&p.train, &p.test), s, &p.draws)?;
    let figures = LayoutFigures { layout: layout.name(), probe: probed.figures, patch_knn, retrieval };
    Ok((figures, probed.confusions, dim))
}

/// A backbone's result and its cell and scene probe labellings.
struct Evaluated {
    result: DenseResult,
    cell: Vec<Confusion>,
    scene: Vec<Confusion>,
}

fn evaluate_prepared(
    e: &Engine,
    b: &Backbone,
    p: &Prepared,
    s: &DenseSettings,
    progress: &dyn Fn(&str),
) -> Result<Evaluated> {
    let (cell, cell_c, dim) = layout_figures(e, b, p, (Layout::Cell, s), progress)?;
    let (scene, scene_c, _) = layout_figures(e, b, p, (Layout::Scene, s), progress)?;
    let result = DenseResult {
        cell,
        scene,
        pixels_position: p.pixels_position.figures.clone(),
        positive_control: p.positive.figures.clone(),
        blocks: s.blocks.min(b.model.depth),
        feature_dim: dim,
        grid: p.train.grid,
        train_scenes: p.train.canvases.len(),
        test_scenes: p.test.canvases.len(),
    };
    Ok(Evaluated { result, cell: cell_c, scene: scene_c })
}

/// `eval dense` of one backbone on the train and test splits of a 28x28 labelled source.
pub fn evaluate(
    e: &Engine,
    b: &Backbone,
    splits: (&Dataset, &Dataset),
    s: &DenseSettings,
    progress: &dyn Fn(&str),
) -> Result<DenseResult> {
    let p = prepare(splits, b.model.patch_size, s, progress)?;
    Ok(evaluate_prepared(e, b, &p, s, progress)?.result)
}

/// `eval dense` of a backbone and of its random initialisation on the same scenes, with the
/// paired differences and whether the positive control shows the benchmark can see a gain;
/// with `other`, a second backbone too, and the backbone's paired differences against it.
pub fn evaluate_against_floor(
    e: &Engine,
    (trained, floor, other): (&Backbone, &Backbone, Option<&Backbone>),
    splits: (&Dataset, &Dataset),
    s: &DenseSettings,
    progress: &dyn Fn(&str),
) -> Result<DenseComparison> {
    if let Some(o) = other.filter(|o| o.model.patch_size != trained.model.patch_size) {
        return Err(Error::Data(format!(
            "--against: patch size {} against {}: the scenes' patch grids differ",
            o.model.patch_size, trained.model.patch_size
        )));
    }
    let p = prepare(splits, trained.model.patch_size, s, progress)?;
    progress("the backbone");
    let a = evaluate_prepared(e, trained, &p, s, progress)?;
    progress("its random-init floor");
    let f = evaluate_prepared(e, floor, &p, s, progress)?;
    let against = match other {
        Some(o) => {
            progress("the backbone it is compared with (--against)");
            let b = evaluate_prepared(e, o, &p, s, progress)?;
            Some(Against {
                cell_difference: scoring::fg_difference(&a.cell, &b.cell, &p.draws),
                scene_difference: scoring::fg_difference(&a.scene, &b.scene, &p.draws),
                result: b.result,
            })
        }
        None => None,
    };
    let positive_control_over_floor = scoring::fg_difference(&p.positive.confusions, &f.cell, &p.draws);
    Ok(DenseComparison {
        cell_gain_over_floor: scoring::fg_difference(&a.cell, &f.cell, &p.draws),
        scene_gain_over_floor: scoring::fg_difference(&a.scene, &f.scene, &p.draws),
        valid: positive_control_over_floor.value >= VALID_MARGIN,
        positive_control_over_floor,
        backbone: a.result,
        random_init_floor: f.result,
        against,
    })
}

/// "34.2 [32.1, 36.0]"
fn est(e: &Estimate) -> String {
    format!("{:.1} [{:.1}, {:.1}]", e.value, e.low, e.high)
}

/// The figures of a result as lines of text (foreground mIoU first, background IoU after).
pub fn summary(r: &DenseResult, label: &str) -> String {
    let mut out = String::new();
    for l in [&r.cell, &r.scene] {
        out += &format!(
            "{label}, {} layout: probe fg mIoU {} (seeds {}), bg IoU {}; patch k-NN {}; retrieval fg mIoU {}, bg IoU {}\n",
            l.layout,
            est(&l.probe.fg_miou),
            l.probe.fg_miou_per_seed.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join("/"),
            est(&l.probe.bg_iou),
            est(&l.patch_knn),
            est(&l.retrieval.fg_miou),
            est(&l.retrieval.bg_iou),
        );
    }
    out += &format!(
        "controls: pixels + position fg mIoU {}; positive (the cell's pooled pixels) fg mIoU {}\n",
        est(&r.pixels_position.fg_miou),
        est(&r.positive_control.fg_miou)
    );
    out
}

/// The comparison as lines of text, ending with the verdict on the benchmark itself.
pub fn comparison_summary(c: &DenseComparison) -> String {
    let mut out = summary(&c.backbone, "backbone");
    out += &summary(&c.random_init_floor, "random-init floor")
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    out += &format!(
        "probe fg mIoU gain over the floor (paired, 95%): cell layout {:+.1} [{:+.1}, {:+.1}], scene layout {:+.1} [{:+.1}, {:+.1}]\n",
        c.cell_gain_over_floor.value,
        c.cell_gain_over_floor.low,
        c.cell_gain_over_floor.high,
        c.scene_gain_over_floor.value,
        c.scene_gain_over_floor.low,
        c.scene_gain_over_floor.high
    );
    if let Some(o) = &c.against {
        out += &summary(&o.result, "--against").lines().take(2).map(|l| format!("{l}\n")).collect::<String>();
        let (a, b) = (&o.cell_difference, &o.scene_difference);
        out += &format!(
            "probe fg mIoU, backbone - --against (paired, 95%): cell layout {:+.1} [{:+.1}, {:+.1}], scene layout {:+.1} [{:+.1}, {:+.1}]\n",
            a.value, a.low, a.high, b.value, b.low, b.high
        );
    }
    let m = &c.positive_control_over_floor;
    out += &match c.valid {
        true => format!(
            "the positive control beats the floor by {:+.1} [{:+.1}, {:+.1}] fg mIoU points: the benchmark can register a gain\n",
            m.value, m.low, m.high
        ),
        false => format!(
            "the positive control beats the floor by only {:+.1} fg mIoU points (< {VALID_MARGIN}): these scenes cannot show a gain; do not read the differences\n",
            m.value
        ),
    };
    out
}
