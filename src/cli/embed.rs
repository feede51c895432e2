//! `adclr-wgpu embed`: the teacher's CLS features of a labelled test split as a 2-D map (PCA),
//! coloured by class, beside the same map of the random initialisation the run started from:
//! a PNG, and a CSV of every point.

use super::device_args::DeviceArgs;
use super::engine_request;
use crate::data::dataset::{Dataset, Split, FASHION_CLASSES};
use crate::error::{Error, Result};
use crate::eval::embedding::{cosine_map_2d, knn_2d, Map2d};
use crate::eval::features::{evenly_spaced, features_of, Backbone, DatasetFeatures};
use crate::figures::scatter::{scatter_maps, Panel};
use crate::gpu::Engine;
use crate::train::config::TrainConfig;
use crate::train::run::CONFIG;
use crate::train::schedule::plural;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Images per encoder forward.
const BATCH: usize = 64;
/// Neighbours of the k-NN in the 2-D map.
const MAP_K: usize = 10;

pub struct EmbedArgs {
    pub checkpoint: PathBuf,
    pub data: Option<String>,
    pub images: usize,
    pub out: PathBuf,
    pub seed: Option<u64>,
}

/// The settings of the run a checkpoint belongs to (its directory's config.toml), if any.
fn run_settings(checkpoint: &Path) -> Option<TrainConfig> {
    let path = checkpoint.parent()?.join(CONFIG);
    TrainConfig::from_toml(&std::fs::read_to_string(&path).ok()?, &path.display().to_string()).ok()
}

pub fn run(device: DeviceArgs, a: EmbedArgs) -> Result<()> {
    let run = run_settings(&a.checkpoint);
    let data = a.data.clone().or_else(|| run.as_ref().map(|r| r.data.clone())).unwrap_or_else(|| "embedded".into());
    let seed = a.seed.or(run.as_ref().map(|r| r.seed)).unwrap_or(0);
    let test = Dataset::open(&data, Split::Test).map_err(Error::Data)?;
    if test.labels.is_none() {
        return Err(Error::Data(format!("--data {data}: its test split has no labels to colour the map by")));
    }
    let trained = Backbone::load(&a.checkpoint)?;
    let floor = Backbone::random(trained.model.clone(), trained.norm.clone(), seed)?;
    let e = Engine::open(&engine_request(&device)?)?;
    let indices = evenly_spaced(test.len(), a.images);
    eprintln!(
        "embed: teacher CLS features of {} of {} (test split), trained and random-init (seed {seed})",
        plural(indices.len(), "image"),
        test.origin
    );
    let encode = |b: &Backbone, what: &str| -> Result<DatasetFeatures> {
        features_of(&e, b, &test, &indices, BATCH, &|done, total| {
            if done == total || done % 512 == 0 {
                eprintln!("embed: {what}: {done}/{total} images");
            }
        })
    };
    let (tf, ff) = (encode(&trained, "trained")?, encode(&floor, "random-init")?);
    if let Some(first) = tf.skipped.first() {
        return Err(Error::Data(format!(
            "--data {data}: {} test images could not be read (the first: {first}); the map needs every one",
            tf.skipped.len()
        )));
    }
    // L2-normalised rows, as the k-NN compares them (cosine), then every coordinate z-scored
    // (a few coordinates of large spread would otherwise be the whole map), then PCA: the map
    // the page draws of the visitor's images too.
    let map = |f: &DatasetFeatures| cosine_map_2d(&f.features, f.dim).map_err(Error::Data);
    let maps = [map(&tf)?, map(&ff)?];
    let knn = [knn_2d(&maps[0].points, &tf.labels, MAP_K), knn_2d(&maps[1].points, &ff.labels, MAP_K)];
    let classes: Vec<String> = match test.classes.is_empty() {
        false => test.classes.clone(),
        true if data == "embedded" || data == "fashion-mnist" => {
            FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
        }
        true => (0..=tf.labels.iter().copied().max().unwrap_or(0)).map(|c| format!("class {c}")).collect(),
    };
    let steps = checkpoint_step(&a.checkpoint);
    let panel = |map: &Map2d, name: String, knn: f64| Panel {
        title: format!("{name}: {MAP_K}-NN in this map {knn:.1}%"),
        x_label: format!("PC 1 ({:.1}% of the variance)", 100.0 * map.explained[0]),
        y_label: format!("PC 2 ({:.1}%)", 100.0 * map.explained[1]),
        points: map.points.clone(),
    };
    let panels = [
        panel(&maps[0], format!("trained teacher{steps}"), knn[0]),
        panel(&maps[1], format!("its random initialisation (seed {seed})"), knn[1]),
    ];
    let title = format!(
        "Teacher CLS features of {} of {} (L2-normalised, each coordinate z-scored), PCA to 2-D",
        plural(indices.len(), "test image"),
        test.origin
    );
    let png = scatter_maps(&title, &panels, &tf.labels, &classes).map_err(Error::Data)?;
    crate::checkpoint::write_atomic(&a.out, &png)?;
    let csv_path = a.out.with_extension("csv");
    let mut csv = String::from("map,image,label,class,x,y\n");
    for (name, map, f) in [("trained", &maps[0], &tf), ("random-init", &maps[1], &ff)] {
        for ((&(x, y), &label), &i) in map.points.iter().zip(&f.labels).zip(&indices) {
            let class = classes.get(label).map_or("", String::as_str).replace(',', ";");
            let _ = writeln!(csv, "{name},{i},{label},{class},{x:.6},{y:.6}");
        }
    }
    crate::checkpoint::write_atomic(&csv_path, csv.as_bytes())?;
    println!(
        "wrote {} and {} ({}-NN in the 2-D map: trained {:.1}%, random init {:.1}%)",
        a.out.display(),
        csv_path.display(),
        MAP_K,
        knn[0],
        knn[1]
    );
    Ok(())
}

/// " (step N)" from a training checkpoint's metadata, or "" (an exported backbone).
fn checkpoint_step(path: &Path) -> String {
    crate::checkpoint::load_training(path).map(|c| format!(" (step {})", c.state.step)).unwrap_or_default()
}
