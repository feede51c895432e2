//! Evaluation: k-NN on synthetic features (separated clusters -> 100%, shuffled labels ->
//! about chance), the attention figure, and a two-cell ablation grid that is skipped on rerun.

mod common;

use adclr_wgpu::ablate;
use adclr_wgpu::cli::environment::native_defaults;
use adclr_wgpu::eval::attention_map;
use adclr_wgpu::eval::features::Backbone;
use adclr_wgpu::eval::knn;
use adclr_wgpu::model::config::ModelConfig;
use common::{engine, Rng};

/// `n` points per class around well separated centres in `dim` dimensions.
fn clusters(classes: usize, n: usize, dim: usize, spread: f64, rng: &mut Rng) -> (Vec<f32>, Vec<usize>) {
    let centres: Vec<Vec<f64>> = (0..classes).map(|_| rng.vec(dim, 1.0)).collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..classes * n {
        let c = i % classes;
        x.extend(centres[c].iter().map(|v| (v + spread * rng.uniform()) as f32));
        y.push(c);
    }
    (x, y)
}

#[test]
fn knn_is_perfect_on_separated_clusters_and_chance_on_shuffled_labels() {
    let e = engine();
    let mut rng = Rng::new(3);
    let (classes, dim) = (10, 24);
    let (bank, bank_y) = clusters(classes, 30, dim, 0.05, &mut rng);
    let (queries, query_y) = clusters(classes, 10, dim, 0.05, &mut Rng::new(3));
    let r = knn::evaluate(e, bank.clone(), &bank_y, queries.clone(), &query_y, dim, 20, 0.07).unwrap();
    assert_eq!((r.top1, r.top5), (100.0, 100.0));
    // The same as a future (what a browser awaits).
    let awaited = knn::evaluate_async(e, bank.clone(), &bank_y, queries.clone(), &query_y, dim, 20, 0.07);
    assert_eq!(pollster::block_on(awaited).unwrap(), r);
    // Random features with random labels: about 10 % (well below 30 %).
    let noise: Vec<f32> = rng.vec(300 * dim, 1.0).iter().map(|&v| v as f32).collect();
    let noise_y: Vec<usize> = (0..300).map(|_| (rng.next_u64() % 10) as usize).collect();
    let q: Vec<f32> = rng.vec(200 * dim, 1.0).iter().map(|&v| v as f32).collect();
    let q_y: Vec<usize> = (0..200).map(|_| (rng.next_u64() % 10) as usize).collect();
    let r = knn::evaluate(e, noise, &noise_y, q, &q_y, dim, 20, 0.07).unwrap();
    assert!(r.top1 < 25.0 && r.top1 > 1.0, "top-1 {} on noise", r.top1);
    assert!(r.top5 > 30.0 && r.top5 < 75.0, "top-5 {} on noise", r.top5);
}

#[test]
fn top_k_keeps_the_largest_in_order() {
    let mut t = knn::TopK::new(3);
    for (s, i) in [(0.1, 0), (0.9, 1), (0.5, 2), (0.95, 3), (0.2, 4)] {
        t.push(s, i);
    }
    assert_eq!(t.items, vec![(0.95, 3), (0.9, 1), (0.5, 2)]);
    // Votes weigh by exp(sim / T): one very close neighbour beats two far ones.
    let labels = [0, 1, 1, 0, 1];
    assert_eq!(knn::vote(&t, &labels, 2, 0.07)[0], 0);
}

fn small_model() -> ModelConfig {
    common::tiny_model()
}

#[test]
fn attention_figure_has_the_expected_size_and_is_not_blank() {
    let e = engine();
    let b = Backbone::random(small_model(), adclr_wgpu::checkpoint::Normalization::IMAGENET, 1).unwrap();
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 128]));
    let fig = attention_map::render(e, &b, &img, 3, 0, 64).unwrap();
    // Columns: image, head mean, 2 heads; rows: CLS and 3 queries; tiles of 64 + 4, with
    // titles to the left and above, a caption and a colour bar below.
    assert!(fig.width() > 4 * 68 && fig.height() > 4 * 68 + 40, "{}x{}", fig.width(), fig.height());
    let first = fig.get_pixel(100, 30);
    assert!(fig.pixels().filter(|p| *p != first).count() > fig.width() as usize * 10, "figure is blank");
    // Tile sides and query counts that would panic, allocate hundreds of GB or run for hours.
    for (queries, cell, flag) in [(3, 0, "--cell"), (3, 100_000, "--cell"), (100_000, 64, "--queries")] {
        let err = attention_map::render(e, &b, &img, queries, 0, cell).unwrap_err().to_string();
        assert!(err.contains(flag), "{err}");
    }
}

/// The `[base]` of the test grids: a tiny model, two steps.
const TINY_GRID_BASE: &str = "[base]
image_size = 16
patch_size = 4
dim = 32
depth = 2
heads = 2
head_hidden = 64
head_bottleneck = 32
out_dim = 64
local_size = 8
local_crops = 0
queries = 2
batch = 4
max_steps = 2
log_every = 1
";

#[test]
fn a_two_cell_grid_runs_and_is_skipped_on_rerun() {
    let dir = std::env::temp_dir().join(format!("adclr-ablate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.toml");
    std::fs::write(
        &grid,
        format!(
            r#"out = "{}"
random_init = true
seeds = [0, 1]
{TINY_BASE}[axes]
lambda = [0.0, 0.5]
"#,
            dir.join("out").display(),
            TINY_BASE = TINY_GRID_BASE
        ),
    )
    .unwrap();
    let r = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).unwrap();
    assert_eq!((r.cells, r.runs, r.skipped, r.failed), (3, 6, 0, 0));
    let md = std::fs::read_to_string(dir.join("out/results.md")).unwrap();
    assert!(md.contains("lambda=0.0") && md.contains("lambda=0.5") && md.contains("random-init"), "{md}");
    // Every cell reports both seeds, a mean +- std, and the trained cells their gain over the floor.
    let read = |p: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(p)).unwrap()).unwrap();
        v["top1"].as_f64().unwrap()
    };
    let (a, b) = (read("out/lambda=0.5/seed-0/result.json"), read("out/lambda=0.5/seed-1/result.json"));
    let (mean, std) = ablate::mean_std(&[a, b]);
    let row = md.lines().find(|l| l.starts_with("| lambda=0.5 ")).unwrap();
    assert!(row.contains(&format!("{mean:.1} +- {std:.1}")) && row.contains("| 2/2 |"), "{row}");
    assert!(row.contains(&format!("0: {a:.1}, 1: {b:.1}")), "{row}");
    let floor = (read("out/random-init/seed-0/result.json") + read("out/random-init/seed-1/result.json")) / 2.0;
    assert!(row.contains(&format!("| {:+.1} |", mean - floor)), "{row}");
    let png = image::open(dir.join("out/results.png")).unwrap();
    assert_eq!((png.width(), png.height()), (800, 480));
    let again = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).unwrap();
    assert_eq!((again.runs, again.skipped), (6, 6));
    // An evaluation added to the grid later runs on the kept checkpoints (and the floor's
    // initialisations), training nothing again: the steps and k-NN figures stay.
    let text = std::fs::read_to_string(&grid)
        .unwrap()
        .replace("[base]", "evaluate = [\"knn\", \"linear\"]\nlinear_epochs = 2\nlinear_views = 0\n[base]");
    std::fs::write(&grid, text).unwrap();
    let trained =
        std::fs::metadata(dir.join("out/lambda=0.5/seed-0/checkpoint.safetensors")).unwrap().modified().unwrap();
    let probed = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).unwrap();
    assert_eq!((probed.runs, probed.skipped, probed.failed), (6, 0, 0));
    let after =
        std::fs::metadata(dir.join("out/lambda=0.5/seed-0/checkpoint.safetensors")).unwrap().modified().unwrap();
    assert_eq!(trained, after, "no training ran again");
    assert_eq!(read("out/lambda=0.5/seed-0/result.json"), a);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/random-init/seed-1/result.json")).unwrap())
            .unwrap();
    assert!(v["linear_top1"].as_f64().is_some_and(|t| (0.0..=100.0).contains(&t)), "{v}");
    let md = std::fs::read_to_string(dir.join("out/results.md")).unwrap();
    let row = md.lines().find(|l| l.starts_with("| lambda=0.5 ")).unwrap();
    // Mean +- std: k-NN top-1 and top-5, the linear probe, the query teacher's last entropy and modes.
    assert!(md.contains("linear top-1 (gain)") && row.matches(" +- ").count() == 5, "{md}");
    assert!(md.contains("query teacher modes, last step"), "{md}");
    // A grid with an impossible cell is refused before any training, naming it.
    std::fs::write(&grid, "out = \"x\"\n[axes]\nqueries = [0]\n").unwrap();
    let err = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).err().unwrap().to_string();
    assert!(err.contains("--queries"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Named cells two at once, recorded in a folder to commit: with the run folder gone (a fresh
/// clone), the record alone skips every trained cell, and an evaluation added later runs on the
/// recorded backbone; results.md holds the seed-paired differences against the reference.
#[test]
fn named_cells_run_two_at_once_and_their_record_stands_for_them() {
    let dir = std::env::temp_dir().join(format!("adclr-ablate-named-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let grid = dir.join("grid.toml");
    let text = format!(
        r#"out = "{out}"
record = "{record}"
seeds = [0, 1]
reference = ["dino", "adclr-query-temp"]
{TINY_BASE}[[cells]]
name = "dino"
lambda = 0.0
[[cells]]
name = "adclr-query-temp"
teacher_query_temp = 0.07
warmup_teacher_query_temp_epochs = 0.01
[[cells]]
name = "adclr-seed-1"
seeds = [1]
"#,
        out = dir.join("out").display(),
        record = dir.join("record").display(),
        TINY_BASE = TINY_GRID_BASE
    );
    std::fs::write(&grid, &text).unwrap();
    let r = ablate::ablate(&grid, 2, &native_defaults().unwrap(), &|_| {}).unwrap();
    // A cell with its own seeds runs at those alone.
    assert_eq!((r.cells, r.runs, r.skipped, r.failed), (3, 5, 0, 0));
    assert!(dir.join("record/adclr-seed-1/seed-1/result.json").exists());
    assert!(!dir.join("record/adclr-seed-1/seed-0").exists() && !dir.join("out/adclr-seed-1/seed-0").exists());
    let record = dir.join("record/adclr-query-temp/seed-1");
    for f in ["result.json", "metrics.jsonl", "config.toml", "backbone.safetensors"] {
        assert!(record.join(f).exists(), "{f} not recorded");
    }
    let metrics = std::fs::read_to_string(record.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for key in ["teacher_batch_entropy", "teacher_batch_entropy_query", "teacher_modes", "teacher_modes_query"] {
        assert!(first[key].is_number(), "{key} missing: {first}");
    }
    // The result keeps the last step's monitors.
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("result.json")).unwrap()).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().next_back().unwrap()).unwrap();
    assert_eq!(result["end_teacher_modes_query"], last["teacher_modes_query"], "{result}");
    assert_eq!(result["end_teacher_batch_entropy"], last["teacher_batch_entropy"], "{result}");
    let read = |p: &std::path::Path| -> f64 {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["top1"].as_f64().unwrap()
    };
    let diff = |seed: u64| {
        let at = |cell: &str| read(&dir.join(format!("record/{cell}/seed-{seed}/result.json")));
        at("adclr-query-temp") - at("dino")
    };
    let md = std::fs::read_to_string(dir.join("record/results.md")).unwrap();
    let row = md.lines().rfind(|l| l.starts_with("| adclr-query-temp |")).unwrap();
    assert!(md.contains("## Against `dino`, seed-paired"), "{md}");
    // A second reference, a second section: the query-temperature cell against itself is left out.
    let second = md.split("## Against `adclr-query-temp`, seed-paired").nth(1).unwrap_or_else(|| panic!("{md}"));
    assert!(second.contains("| dino |") && !second.contains("| adclr-query-temp |"), "{second}");
    assert!(row.contains(&format!("0: {:+.2}, 1: {:+.2}", diff(0), diff(1))), "{row}");
    // A fresh clone: no run folder, only the record. Nothing trains; the linear probe added to
    // the grid runs on the recorded backbones.
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    let again = ablate::ablate(&grid, 2, &native_defaults().unwrap(), &|_| {}).unwrap();
    assert_eq!((again.runs, again.skipped), (5, 5));
    // `--report` writes results.md again from the record alone, running nothing.
    std::fs::remove_file(dir.join("record/results.md")).unwrap();
    let reported = ablate::report(&grid).unwrap();
    assert_eq!((reported.runs, reported.recorded, reported.skipped, reported.failed), (5, 5, 0, 0));
    assert_eq!(std::fs::read_to_string(dir.join("record/results.md")).unwrap(), md, "the same report");
    assert!(!dir.join("out/dino/seed-0/checkpoint.safetensors").exists(), "trained again");
    let probed =
        text.replace("[base]", "evaluate = [\"knn\", \"linear\"]\nlinear_epochs = 2\nlinear_views = 0\n[base]");
    std::fs::write(&grid, probed).unwrap();
    let probed = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).unwrap();
    assert_eq!((probed.runs, probed.skipped, probed.failed), (5, 0, 0));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("record/dino/seed-1/result.json")).unwrap()).unwrap();
    assert!(v["linear_top1"].as_f64().is_some_and(|t| (0.0..=100.0).contains(&t)), "{v}");
    // Bad grids are refused before any work, naming what is wrong.
    for (bad, says) in [
        (text.replace("name = \"dino\"", "name = \"a/b\""), "cell name `a/b`"),
        (text.replace("name = \"adclr-query-temp\"", "name = \"dino\""), "two cells are named `dino`"),
        (text.replace("reference = [\"dino\", ", "reference = [\"dna\", "), "reference `dna` is not a cell"),
        (text.replace("[base]", "[axes]\nlambda = [0.0]\n[base]"), "either [axes] or [[cells]]"),
        (text.replace("lambda = 0.0", "lambda = -1.0"), "--lambda"),
        (text.replace("seeds = [0, 1]", "seeds = [0, 0]"), "seed 0 is listed twice"),
        (
            text.replace("seeds = [1]", "seeds = [2]"),
            "cell `adclr-seed-1`: seeds = [2]: give a list of some of the grid's seeds [0, 1]",
        ),
        (text.replace("seeds = [1]", "seeds = []"), "cell `adclr-seed-1`: seeds = []: give a list"),
        (text.replace("name = \"dino\"", "name = \"results.md\""), "would share `results.md`"),
    ] {
        std::fs::write(&grid, bad).unwrap();
        let err = ablate::ablate(&grid, 1, &native_defaults().unwrap(), &|_| {}).err().unwrap().to_string();
        assert!(err.contains(says), "{err}");
    }
    assert!(ablate::ablate(&grid, 0, &native_defaults().unwrap(), &|_| {})
        .err()
        .unwrap()
        .to_string()
        .contains("--jobs 0"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `eval queries`: a backbone whose tokens cannot read each other (attention output
/// projections zeroed) gives a crop the same output in any view and keeps every top prototype;
/// a random one reads a little of the view. Every share is a percentage.
#[test]
fn query_probe_tells_a_context_blind_query_from_one_that_reads_the_view() {
    use adclr_wgpu::data::dataset::{Dataset, Split};
    use adclr_wgpu::eval::query_probe::{evaluate, summary, QuerySettings, TeacherHead};
    let e = engine();
    let model = ModelConfig { patch_size: 8, image_size: 32, depth: 2, ..common::tiny_model() };
    let norm = adclr_wgpu::data::normalization::normalization_for("embedded");
    let random = Backbone::random(model.clone(), norm.clone(), 3).unwrap();
    let mut blind = Backbone::random(model.clone(), norm, 3).unwrap();
    for (name, w) in blind.weights.iter_mut() {
        if name.contains("attn.proj") {
            w.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    let head = TeacherHead::random(&model, 3).unwrap();
    let (train, test) = (Dataset::embedded(Split::Train).unwrap(), Dataset::embedded(Split::Test).unwrap());
    let s = QuerySettings { images: 24, bank: 60, queries: 3, batch: 16, ..QuerySettings::default() };
    let quiet = |_: &str| {};
    let b = evaluate(e, &blind, Some(&head), (&train, &test), &s, &quiet).unwrap();
    eprintln!("{}", summary(&b));
    assert_eq!((b.images, b.queries), (24, 3));
    assert!((b.cosine_own_vs_other_view - 1.0).abs() < 1e-5, "{b:?}");
    assert_eq!(b.top_prototype_kept, Some(100.0));
    assert!(b.prototypes_used.is_some_and(|u| (1..=72).contains(&u)), "{b:?}");
    let r = evaluate(e, &random, None, (&train, &test), &s, &quiet).unwrap();
    assert!(r.cosine_own_vs_other_view < 1.0 - 1e-4 && r.cosine_between_crops < r.cosine_own_vs_other_view, "{r:?}");
    assert_eq!((r.top_prototype_kept, r.prototypes_used), (None, None));
    for v in [r.class_from_query, r.class_from_cls, r.other_view_names_crop_class, r.other_view_names_view_class] {
        assert!((0.0..=100.0).contains(&v), "{r:?}");
    }
    assert!(r.other_view_names_crop_class + r.other_view_names_view_class <= 100.0 + 1e-9);
    let bad = QuerySettings { queries: 1, ..s };
    assert!(evaluate(e, &random, None, (&train, &test), &bad, &quiet).unwrap_err().to_string().contains("--queries"));
}

#[test]
fn impossible_knn_and_probe_settings_name_their_flag() {
    let e = engine();
    let (x, y) = clusters(3, 4, 8, 0.1, &mut Rng::new(1));
    let knn_err = |k: usize, t: f32| knn::evaluate(e, x.clone(), &y, x.clone(), &y, 8, k, t).unwrap_err().to_string();
    assert!(knn_err(0, 0.07).contains("--k"));
    assert!(knn_err(20, 0.0).contains("--temperature"));
    assert!(knn_err(20, f32::NAN).contains("--temperature"));
    use adclr_wgpu::eval::linear::{train_and_test, ProbeConfig};
    let probe_err = |epochs: usize, batch: usize, lr: f64| {
        let cfg = ProbeConfig { epochs, batch, lr, momentum: 0.9, seed: 0 };
        train_and_test(e, 8, &x, &y, &x, &y, &cfg).unwrap_err().to_string()
    };
    assert!(probe_err(0, 4, 0.1).contains("--epochs"));
    assert!(probe_err(2, 0, 0.1).contains("--batch"));
    assert!(probe_err(2, 4, f64::NAN).contains("--lr"));
}

#[test]
fn the_linear_probe_learns_a_separable_toy_set() {
    let e = engine();
    let mut rng = Rng::new(8);
    let (classes, dim) = (5, 12);
    let (train_x, train_y) = clusters(classes, 40, dim, 0.3, &mut rng);
    let (test_x, test_y) = clusters(classes, 10, dim, 0.3, &mut Rng::new(8));
    let cfg = adclr_wgpu::eval::linear::ProbeConfig { epochs: 60, batch: 32, lr: 2.0, momentum: 0.9, seed: 0 };
    use adclr_wgpu::eval::linear::train_and_test;
    let top1 = train_and_test(e, dim, &train_x, &train_y, &test_x, &test_y, &cfg).unwrap();
    assert!(top1 >= 98.0, "probe top-1 {top1}");
    // Labels unrelated to the features: the probe cannot generalise.
    let shuffled: Vec<usize> = (0..test_y.len()).map(|_| (rng.next_u64() % classes as u64) as usize).collect();
    let top1 = train_and_test(e, dim, &train_x, &train_y, &test_x, &shuffled, &cfg).unwrap();
    assert!(top1 < 50.0, "probe top-1 {top1} on shuffled test labels");
    // One view repeated is the plain probe; views of the wrong size are refused.
    use adclr_wgpu::eval::linear::train_and_test_views;
    let twice = train_and_test_views(e, dim, &[&train_x, &train_x], &train_y, &test_x, &test_y, &cfg).unwrap();
    assert_eq!(twice, train_and_test(e, dim, &train_x, &train_y, &test_x, &test_y, &cfg).unwrap());
    let short = &train_x[..train_x.len() - dim];
    assert!(train_and_test_views(e, dim, &[&train_x, short], &train_y, &test_x, &test_y, &cfg).is_err());
}

#[test]
fn probe_features_are_normed_block_outputs() {
    let e = engine();
    let b = Backbone::random(small_model(), adclr_wgpu::checkpoint::Normalization::IMAGENET, 2).unwrap();
    let ds = adclr_wgpu::data::dataset::Dataset::embedded(adclr_wgpu::data::dataset::Split::Test).unwrap();
    let kind = adclr_wgpu::eval::linear::ProbeFeatures::for_model(32, 2);
    assert_eq!(kind, adclr_wgpu::eval::linear::ProbeFeatures::LastBlocksCls(2));
    let (x, y) = adclr_wgpu::eval::linear::probe_features(e, &b, &ds, 64, kind).unwrap();
    assert_eq!((x.len(), y.len()), (500 * 64, 500));
    // The last block's CLS through the final norm is exactly the k-NN feature.
    let f = adclr_wgpu::eval::features::dataset_features(e, &b, &ds, 64, &|_, _| {}).unwrap();
    let got: Vec<f64> =
        (0..500).flat_map(|i| x[i * 64 + 32..i * 64 + 64].iter().map(|&v| v as f64).collect::<Vec<_>>()).collect();
    let want: Vec<f64> = f.features.iter().map(|&v| v as f64).collect();
    common::check_close("probe vs knn features", &got, &want, 1e-4, 1e-3).unwrap();
    // Augmented views (DINO's probe training crops): the same view is the same crop in every
    // call, another view or the centre crop differs, the labels are the same images'.
    use adclr_wgpu::eval::linear::probe_features_augmented;
    let (a0, ya) = probe_features_augmented(e, &b, &ds, 64, kind, 0, 7).unwrap();
    let (again, _) = probe_features_augmented(e, &b, &ds, 64, kind, 0, 7).unwrap();
    let (a1, _) = probe_features_augmented(e, &b, &ds, 64, kind, 1, 7).unwrap();
    assert_eq!(ya, y);
    assert_eq!(a0, again);
    let differ = |p: &[f32], q: &[f32]| (0..500).filter(|i| p[i * 64..i * 64 + 64] != q[i * 64..i * 64 + 64]).count();
    assert!(differ(&a0, &a1) > 450 && differ(&a0, &x) > 450, "{} {}", differ(&a0, &a1), differ(&a0, &x));
}

/// The grids and the recipe shipped in assets/ parse and validate (every cell), so the README's
/// commands start.
#[test]
fn shipped_grids_and_recipes_are_valid() {
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (name, runs) in [
        ("ablation-fashion-mnist.toml", 4),
        ("ablation-laptop.toml", 4),
        ("ablation-laptop-queries.toml", 4),
        ("ablation-laptop-lambda.toml", 2),
        ("ablation-laptop-local-crops.toml", 4),
        ("ablation-laptop-query-views.toml", 4),
        ("ablation-laptop-claims.toml", 11),
    ] {
        let path = assets.join(name);
        let origin = path.display().to_string();
        let grid: ablate::Grid = toml::from_str(&std::fs::read_to_string(&origin).unwrap()).unwrap();
        let grid = ablate::with_recipe(grid, &path).unwrap();
        let cells = ablate::cells(&grid, &origin).unwrap();
        assert_eq!(cells.len(), runs, "{name}");
        ablate::check_names(&grid, &cells, &origin).unwrap();
        if name == "ablation-laptop-claims.toml" {
            // The three arms of the claims at every seed; the two query fixes, the Q axis, the
            // lambda axis and the local crops at two.
            let at_two: Vec<&str> =
                cells.iter().filter(|c| c.seeds == Some(vec![0, 1])).map(|c| c.name.as_str()).collect();
            let two = [
                "adclr-query-temp",
                "adclr-query-views-separate",
                "adclr-q1",
                "adclr-q16",
                "adclr-lambda0.2",
                "adclr-lambda1",
                "dino-local0",
                "adclr-local0",
            ];
            assert_eq!(at_two, two);
            let queries: Vec<usize> = cells.iter().map(|c| c.config.queries).collect();
            assert_eq!(queries, [10, 10, 10, 10, 10, 1, 16, 10, 10, 10, 10]);
            let lambdas: Vec<f64> = cells.iter().map(|c| c.config.lambda).collect();
            assert_eq!(lambdas, [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 1.0, 0.0, 0.5]);
            let locals: Vec<usize> = cells.iter().map(|c| c.config.local_crops).collect();
            assert_eq!(locals, [2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0]);
            // ADCLR's gain over DINO without local crops against with them.
            let c = &grid.contrasts[..];
            assert_eq!(c.len(), 1);
            assert_eq!(
                (c[0].cells(), c[0].name.as_str()),
                (["adclr-local0", "dino-local0", "adclr", "dino"], "ADCLR's gain over DINO, 0 local crops minus 2")
            );
            let mut bad = grid.clone();
            bad.contrasts[0].against[1] = "dino-local2".into();
            let err = ablate::check_names(&bad, &cells, &origin).unwrap_err();
            assert!(err.contains("contrast `ADCLR's gain over DINO, 0 local crops minus 2`: `dino-local2` is not a cell (dino, adclr,"), "{err}");
        }
        if name.starts_with("ablation-laptop") {
            // The laptop recipe's model under every cell.
            let budget = if name.ends_with("-claims.toml") { 1000 } else { 2500 };
            assert!(cells.iter().all(|c| c.config.dim == 96 && c.config.max_steps == Some(budget)), "{name}");
        }
    }
    let laptop = std::fs::read_to_string(assets.join("laptop-fashion-mnist.toml")).unwrap();
    let c = adclr_wgpu::train::config::TrainConfig::from_toml(&laptop, "laptop").unwrap();
    let m = c.adclr().unwrap();
    assert_eq!(
        (m.model.dim, m.model.depth, m.queries, c.max_steps, c.data.as_str()),
        (96, 3, 10, Some(2500), "fashion-mnist")
    );
}

/// The cell layout puts each cell's patches back where the scene has them: for a backbone whose
/// tokens see only themselves (attention output projections and positional embeddings zeroed),
/// the cell and scene layouts give the same rows.
#[test]
fn dense_cell_layout_places_every_patch_where_the_scene_has_it() {
    use adclr_wgpu::data::dataset::{Dataset, Split};
    use adclr_wgpu::eval::dense::{layouts, scenes_of, Layout};
    let e = engine();
    let model = ModelConfig { patch_size: 8, image_size: 32, depth: 2, ..common::tiny_model() };
    let norm = adclr_wgpu::data::normalization::normalization_for("embedded");
    let mut local = Backbone::random(model, norm, 3).unwrap();
    for (name, w) in local.weights.iter_mut() {
        if name.contains("attn.proj") || name == "pos_embed" {
            w.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    let test = Dataset::embedded(Split::Test).unwrap();
    let scenes = scenes_of(&test, 5, 2).unwrap();
    let r = layouts::render(&test, &scenes, 8).unwrap();
    let cell = layouts::backbone_rows(e, &local, &r, (Layout::Cell, 2), 8).unwrap();
    let scene = layouts::backbone_rows(e, &local, &r, (Layout::Scene, 2), 3).unwrap();
    assert_eq!((cell.grid, cell.dim, cell.x.len()), (8, 2 * local.model.dim, 5 * 64 * 2 * local.model.dim));
    let worst = cell.x.iter().zip(&scene.x).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "cell and scene rows differ by {worst}");
    // With positions, the layouts differ (the cell's 4x4 table against the interpolated 8x8).
    let b = Backbone::random(local.model.clone(), local.norm.clone(), 3).unwrap();
    let (c, s) = (
        layouts::backbone_rows(e, &b, &r, (Layout::Cell, 1), 8).unwrap(),
        layouts::backbone_rows(e, &b, &r, (Layout::Scene, 1), 8).unwrap(),
    );
    assert!(c.x.iter().zip(&s.x).any(|(a, b)| (a - b).abs() > 1e-3));
}

/// `eval dense` on the embedded subset, a random backbone against itself: every paired gain is
/// exactly zero, the positive control (item identity per patch) beats raw pixels + position,
/// and every figure lies inside its interval.
#[test]
fn dense_benchmark_reports_controls_and_paired_gains() {
    use adclr_wgpu::data::dataset::{Dataset, Split};
    use adclr_wgpu::eval::dense::{comparison_summary, evaluate_against_floor, DenseSettings};
    let e = engine();
    let model = ModelConfig { patch_size: 8, image_size: 32, depth: 2, ..common::tiny_model() };
    let norm = adclr_wgpu::data::normalization::normalization_for("embedded");
    let b = Backbone::random(model, norm, 3).unwrap();
    let (train, test) = (Dataset::embedded(Split::Train).unwrap(), Dataset::embedded(Split::Test).unwrap());
    let s = DenseSettings {
        train_scenes: 120,
        test_scenes: 40,
        bootstrap: 50,
        knn_bank: 2_000,
        ..DenseSettings::default()
    };
    let other = Backbone::random(b.model.clone(), b.norm.clone(), 4).unwrap();
    let c = evaluate_against_floor(e, (&b, &b, Some(&other)), (&train, &test), &s, &|_| {}).unwrap();
    let r = &c.backbone;
    eprintln!("{}", comparison_summary(&c));
    assert_eq!((r.grid, r.train_scenes, r.test_scenes, r.blocks, r.feature_dim), (8, 120, 40, 2, 2 * b.model.dim));
    for g in [c.cell_gain_over_floor, c.scene_gain_over_floor] {
        assert_eq!((g.value, g.low, g.high), (0.0, 0.0, 0.0));
    }
    assert_eq!(r.cell.probe.fg_miou_per_seed.len(), 3);
    // Against another initialisation: the paired difference is the difference of the figures.
    let o = c.against.as_ref().unwrap();
    let want = r.cell.probe.fg_miou.value - o.result.cell.probe.fg_miou.value;
    assert!((o.cell_difference.value - want).abs() < 1e-9, "{o:?}");
    assert!(o.cell_difference.low <= o.cell_difference.value && o.cell_difference.value <= o.cell_difference.high);
    let (pixels, positive) = (r.pixels_position.fg_miou, r.positive_control.fg_miou);
    assert!(positive.value > pixels.value + 5.0, "positive control {positive:?}, pixels + position {pixels:?}");
    assert!(
        (c.positive_control_over_floor.value - (positive.value - r.cell.probe.fg_miou.value)).abs() < 1e-9,
        "{c:?}"
    );
    for est in [
        r.cell.probe.fg_miou,
        r.cell.probe.bg_iou,
        r.scene.probe.fg_miou,
        r.cell.patch_knn,
        r.scene.retrieval.fg_miou,
        r.cell.retrieval.bg_iou,
        pixels,
        positive,
    ] {
        assert!(est.low <= est.value && est.value <= est.high && (0.0..=100.0).contains(&est.value), "{est:?}");
    }
    // Background is the easy class: its IoU is far above the items' mIoU for every probe.
    assert!(r.cell.probe.bg_iou.value > r.cell.probe.fg_miou.value, "{r:?}");
    let bad = DenseSettings { probe_seeds: 0, ..s };
    let err = evaluate_against_floor(e, (&b, &b, None), (&train, &test), &bad, &|_| {}).unwrap_err().to_string();
    assert!(err.contains("--probe-seeds"), "{err}");
}
