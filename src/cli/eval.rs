//! `adclr-wgpu eval knn` and `eval linear`: a checkpoint's (or a random init's) backbone on a
//! labelled source's train and test splits.

use super::args::{DenseArgs, EvalSource, KnnArgs, LinearArgs, QueriesArgs};
use super::engine_request;
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Engine;

type EvalInputs = (Engine, crate::eval::features::Backbone, Dataset, Dataset);

/// The device, backbone (checkpoint or random) and the train / test splits of an evaluation.
fn eval_setup(src: &EvalSource) -> Result<EvalInputs> {
    use crate::eval::features::Backbone;
    let e = Engine::open(&engine_request(&src.device)?)?;
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
    let say = |m: &str| eprintln!("{m}");
    let r = linear::probe(&e, &backbone, (&train_ds, &test_ds), &cfg, a.augment_views, &say)?;
    println!(
        "{}",
        serde_json::json!({"top1": r.top1, "features": format!("{:?}", r.features), "train": r.train, "test": r.test, "epochs": a.epochs, "augment_views": a.augment_views, "adapter": e.ctx.info.name})
    );
    Ok(())
}

/// `eval dense`: the backbone's dense figures, and for a checkpoint its random-init floor's.
pub fn dense(a: DenseArgs) -> Result<()> {
    use crate::eval::dense::{comparison_summary, evaluate, evaluate_against_floor, summary, DenseSettings};
    use crate::eval::features::Backbone;
    let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
    let s = DenseSettings {
        train_scenes: a.train_scenes,
        test_scenes: a.test_scenes,
        scene_seed: a.scene_seed,
        probe_seeds: a.probe_seeds,
        blocks: a.blocks,
        knn_bank: a.knn_bank,
        bootstrap: a.bootstrap,
        ..DenseSettings::default()
    };
    let say = |m: &str| eprintln!("dense: {m}");
    let trained = a.source.checkpoint.is_some() && !a.source.random_init;
    let splits = (&train_ds, &test_ds);
    let mut report = if trained {
        say("the checkpoint's teacher against its random-init floor, on the same scenes");
        let floor = Backbone::random(backbone.model.clone(), backbone.norm.clone(), a.source.seed)?;
        let other = a.against.as_deref().map(Backbone::load).transpose()?;
        let c = evaluate_against_floor(&e, (&backbone, &floor, other.as_ref()), splits, &s, &say)?;
        eprint!("{}", comparison_summary(&c));
        serde_json::json!(c)
    } else {
        if a.against.is_some() {
            return Err(Error::Data(
                "--against compares a trained --checkpoint: give one without --random-init".into(),
            ));
        }
        say("the random initialisation");
        let r = evaluate(&e, &backbone, splits, &s, &say)?;
        eprint!("{}", summary(&r, "random init"));
        serde_json::json!({ "backbone": r })
    };
    report["settings"] = serde_json::json!({
        "train_scenes": s.train_scenes, "test_scenes": s.test_scenes, "scene_seed": s.scene_seed,
        "probe": "ridge least squares", "probe_seeds": s.probe_seeds, "blocks": s.blocks,
        "knn_bank": s.knn_bank, "bootstrap": s.bootstrap, "data": a.source.data,
    });
    report["adapter"] = serde_json::json!(e.ctx.info.name);
    println!("{report}");
    Ok(())
}

pub fn queries(a: QueriesArgs) -> Result<()> {
    use crate::eval::query_probe::{evaluate, summary, QuerySettings, TeacherHead};
    let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
    let head = match (&a.source.checkpoint, a.source.random_init) {
        (Some(c), false) => TeacherHead::of_checkpoint(c)?,
        _ => None,
    };
    let s = QuerySettings {
        images: a.images,
        bank: a.bank,
        queries: a.queries,
        seed: a.crop_seed,
        ..QuerySettings::default()
    };
    let say = |m: &str| eprintln!("queries: {m}");
    let r = evaluate(&e, &backbone, head.as_ref(), (&train_ds, &test_ds), &s, &say)?;
    eprint!("{}", summary(&r));
    let mut report = serde_json::json!(r);
    report["data"] = serde_json::json!(a.source.data);
    report["adapter"] = serde_json::json!(e.ctx.info.name);
    println!("{report}");
    Ok(())
}
