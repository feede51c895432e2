//! `adclr-wgpu eval knn` and `eval linear`: a checkpoint's (or a random init's) backbone on a
//! labelled source's train and test splits.

use super::args::{EvalSource, KnnArgs, LinearArgs};
use super::choice;
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Engine;

type EvalInputs = (Engine, crate::eval::features::Backbone, Dataset, Dataset);

/// The device, backbone (checkpoint or random) and the train / test splits of an evaluation.
fn eval_setup(src: &EvalSource) -> Result<EvalInputs> {
    use crate::eval::features::Backbone;
    let e = Engine::open(&choice(&src.device))?;
    let backbone = match &src.checkpoint {
        Some(c) if !src.random_init => Backbone::load(c)?,
        // The floor of a trained model: its sizes and normalisation, fresh weights.
        Some(c) => {
            let loaded = Backbone::load(c)?;
            Backbone::random(loaded.model, loaded.norm, src.seed)?
        }
        None => {
            let model = crate::model::ModelConfig::preset(&src.preset).map_err(Error::Data)?;
            Backbone::random(model, crate::data::normalization::normalization_for(&src.data), src.seed)?
        }
    };
    let open = |split| Dataset::open(&src.data, split).map_err(Error::Data);
    let (train_ds, test_ds) = (open(Split::Train)?, open(Split::Test)?);
    if train_ds.origin == test_ds.origin {
        return Err(Error::Data(format!("--data {}: needs separate train/ and val/ (or test/) sub-folders", src.data)));
    }
    Ok((e, backbone, train_ds, test_ds))
}

pub fn knn(a: KnnArgs) -> Result<()> {
    crate::eval::knn::check_settings(a.k, a.temperature)?;
    let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
    let progress = |done: usize, total: usize| {
        if done == total || done.is_multiple_of(1000) {
            eprintln!("features: {done}/{total}");
        }
    };
    let bank = crate::eval::features::dataset_features(&e, &backbone, &train_ds, a.batch, &progress)?;
    let queries = crate::eval::features::dataset_features(&e, &backbone, &test_ds, a.batch, &progress)?;
    if a.k > bank.labels.len() {
        eprintln!(
            "warning: --k {} is more than the bank's {} images ({}): every bank image votes",
            a.k,
            bank.labels.len(),
            train_ds.origin
        );
    }
    let r = crate::eval::knn::evaluate(
        &e,
        bank.features,
        &bank.labels,
        queries.features,
        &queries.labels,
        bank.dim,
        a.k,
        a.temperature,
    )?;
    println!(
        "{}",
        serde_json::json!({"top1": r.top1, "top5": r.top5, "queries": r.queries, "bank": r.bank, "k": a.k, "adapter": e.ctx.info.name})
    );
    Ok(())
}

pub fn linear(a: LinearArgs) -> Result<()> {
    use crate::eval::linear;
    let cfg = linear::ProbeConfig { epochs: a.epochs, batch: a.batch, lr: a.lr, momentum: 0.9, seed: a.source.seed };
    cfg.check()?;
    let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
    let kind = linear::ProbeFeatures::for_model(backbone.model.dim, backbone.model.depth);
    let mut views = Vec::new();
    let mut ty = Vec::new();
    for v in 0..a.augment_views {
        eprintln!("probe features: augmented view {}/{} of the training split", v + 1, a.augment_views);
        let (x, y) = linear::probe_features_augmented(&e, &backbone, &train_ds, 64, kind, v as u64, a.source.seed)?;
        views.push(x);
        ty = y;
    }
    if views.is_empty() {
        let (x, y) = linear::probe_features(&e, &backbone, &train_ds, 64, kind)?;
        views.push(x);
        ty = y;
    }
    let (vx, vy) = linear::probe_features(&e, &backbone, &test_ds, 64, kind)?;
    let view_refs: Vec<&[f32]> = views.iter().map(|v| v.as_slice()).collect();
    let top1 = linear::train_and_test_views(&e, kind.width(backbone.model.dim), &view_refs, &ty, &vx, &vy, &cfg)?;
    println!(
        "{}",
        serde_json::json!({"top1": top1, "features": format!("{kind:?}"), "train": ty.len(), "test": vy.len(), "epochs": a.epochs, "augment_views": a.augment_views, "adapter": e.ctx.info.name})
    );
    Ok(())
}
