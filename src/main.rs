use adclr_wgpu::cli::{Cli, Command, DeviceArgs, EvalCommand, EvalSource};
use adclr_wgpu::data::dataset::{Dataset, Split};
use adclr_wgpu::gpu::{AdapterChoice, Engine};
use clap::Parser;

/// Runs shorter than this end with a note that they are smoke runs and which run learns.
const SMOKE_STEPS: usize = 500;
/// What the learning run costs where it was measured (README, "Learning").
const LEARNING_RUN_TIME: &str = "about 65 min on 2 AVX-512 CPU cores with lavapipe, a few minutes on a GPU";

fn choice(d: &DeviceArgs) -> AdapterChoice {
    AdapterChoice { backend: d.backend.clone(), adapter: d.adapter }
}

type EvalInputs = (Engine, adclr_wgpu::eval::features::Backbone, Dataset, Dataset);

/// The device, backbone (checkpoint or random) and the train / test splits of an evaluation.
fn eval_setup(src: &EvalSource) -> adclr_wgpu::Result<EvalInputs> {
    use adclr_wgpu::eval::features::Backbone;
    let e = Engine::open(&choice(&src.device))?;
    let backbone = match &src.checkpoint {
        Some(c) if !src.random_init => Backbone::load(c)?,
        // The floor of a trained model: its sizes and normalisation, fresh weights.
        Some(c) => {
            let loaded = Backbone::load(c)?;
            Backbone::random(loaded.model, loaded.norm, src.seed)?
        }
        None => {
            let model = adclr_wgpu::model::ModelConfig::preset(&src.preset).map_err(adclr_wgpu::Error::Data)?;
            Backbone::random(model, adclr_wgpu::data::normalization::normalization_for(&src.data), src.seed)?
        }
    };
    let open = |split| Dataset::open(&src.data, split).map_err(adclr_wgpu::Error::Data);
    let (train_ds, test_ds) = (open(Split::Train)?, open(Split::Test)?);
    if train_ds.origin == test_ds.origin {
        return Err(adclr_wgpu::Error::Data(format!(
            "--data {}: needs separate train/ and val/ (or test/) sub-folders",
            src.data
        )));
    }
    Ok((e, backbone, train_ds, test_ds))
}

fn run(cli: Cli) -> adclr_wgpu::Result<()> {
    match cli.command {
        Command::Train(args) => {
            if args.resume.is_some() {
                let mut plain = args.clone();
                plain.resume = None;
                plain.force = false;
                let given = plain.resolve().map_err(adclr_wgpu::Error::Data)?;
                if args.config.is_some() || given != adclr_wgpu::train::config::TrainConfig::default() {
                    return Err(adclr_wgpu::Error::Data(
                        "--resume continues with the run's own config.toml: give no other settings".into(),
                    ));
                }
            }
            let tc = if args.resume.is_some() {
                Default::default()
            } else {
                args.resolve().map_err(adclr_wgpu::Error::Data)?
            };
            adclr_wgpu::train::run::stop_on_signals();
            let out = adclr_wgpu::train::run::train(
                tc,
                args.resume.as_deref().map(|dir| adclr_wgpu::train::resume::ResumeFrom { dir, force: args.force }),
                adclr_wgpu::train::run::Verbosity::Progress,
                None,
            )?;
            if out.interrupted {
                println!(
                    "interrupted at step {}/{}; checkpoint written. Continue with: adclr-wgpu train --resume {}",
                    out.steps_done,
                    out.total_steps,
                    out.run_dir.display()
                );
            } else {
                println!("run directory: {}", out.run_dir.display());
                match out.final_loss {
                    Some(l) => println!("final loss: {l:.4} after {} steps", out.steps_done),
                    None => println!("no steps run"),
                }
            }
            if out.skipped_images > 0 {
                println!("{} unreadable images were skipped", out.skipped_images);
            }
            println!("data wait: {:.0}% of the time", 100.0 * out.data_wait_share);
            if !out.interrupted {
                let tc = std::fs::read_to_string(out.run_dir.join(adclr_wgpu::train::run::CONFIG))
                    .ok()
                    .and_then(|t| adclr_wgpu::train::config::TrainConfig::from_toml(&t, "config").ok())
                    .unwrap_or_default();
                let choice = AdapterChoice { backend: tc.backend.clone(), adapter: tc.adapter };
                if out.total_steps < SMOKE_STEPS {
                    println!(
                        "this was a smoke run ({} steps): it shows that everything works, not that pre-training helps. \
                         The run that learns: adclr-wgpu train --config assets/laptop-fashion-mnist.toml \
                         (2,500 steps; {LEARNING_RUN_TIME})",
                        out.total_steps
                    );
                }
                match adclr_wgpu::eval::checkpoint_knn::knn_and_floor_of_checkpoint(
                    &out.run_dir.join(adclr_wgpu::train::run::CHECKPOINT),
                    &tc.data,
                    tc.seed,
                    &choice,
                ) {
                    Ok((r, floor)) => println!(
                        "k-NN (k 20) of the teacher on the test split: {}, top-5 {:.1}% ({} queries, bank {})",
                        adclr_wgpu::train::monitor::with_floor(&r, &floor),
                        r.top5,
                        r.queries,
                        r.bank
                    ),
                    Err(e) => println!("k-NN skipped: {e}"),
                }
            }
        }
        Command::Eval { what: EvalCommand::Knn(a) } => {
            adclr_wgpu::eval::knn::check_settings(a.k, a.temperature)?;
            let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
            let progress = |done: usize, total: usize| {
                if done == total || done.is_multiple_of(1000) {
                    eprintln!("features: {done}/{total}");
                }
            };
            let bank = adclr_wgpu::eval::features::dataset_features(&e, &backbone, &train_ds, a.batch, &progress)?;
            let queries = adclr_wgpu::eval::features::dataset_features(&e, &backbone, &test_ds, a.batch, &progress)?;
            let r = adclr_wgpu::eval::knn::evaluate(
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
        }
        Command::Eval { what: EvalCommand::Linear(a) } => {
            use adclr_wgpu::eval::linear;
            let cfg =
                linear::ProbeConfig { epochs: a.epochs, batch: a.batch, lr: a.lr, momentum: 0.9, seed: a.source.seed };
            cfg.check()?;
            let (e, backbone, train_ds, test_ds) = eval_setup(&a.source)?;
            let kind = linear::ProbeFeatures::for_model(backbone.model.dim, backbone.model.depth);
            let mut views = Vec::new();
            let mut ty = Vec::new();
            for v in 0..a.augment_views {
                eprintln!("probe features: augmented view {}/{} of the training split", v + 1, a.augment_views);
                let (x, y) =
                    linear::probe_features_augmented(&e, &backbone, &train_ds, 64, kind, v as u64, a.source.seed)?;
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
            let top1 =
                linear::train_and_test_views(&e, kind.width(backbone.model.dim), &view_refs, &ty, &vx, &vy, &cfg)?;
            println!(
                "{}",
                serde_json::json!({"top1": top1, "features": format!("{kind:?}"), "train": ty.len(), "test": vy.len(), "epochs": a.epochs, "augment_views": a.augment_views, "adapter": e.ctx.info.name})
            );
        }
        Command::Attention { device, checkpoint, image, out, queries, seed, cell } => {
            let e = Engine::open(&choice(&device))?;
            let backbone = adclr_wgpu::eval::features::Backbone::load(&checkpoint)?;
            let img = adclr_wgpu::data::image_io::load_rgb(&image).map_err(adclr_wgpu::Error::Data)?;
            let fig = adclr_wgpu::eval::attention_map::render(&e, &backbone, &img, queries, seed, cell)?;
            let mut png = Vec::new();
            fig.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| adclr_wgpu::Error::Data(e.to_string()))?;
            adclr_wgpu::checkpoint::write_atomic(&out, &png)?;
            println!(
                "wrote {} ({}x{}: rows CLS and {queries} queries; columns image, head mean, each head)",
                out.display(),
                fig.width(),
                fig.height()
            );
        }
        Command::Plot { run } => {
            if !run.join(adclr_wgpu::train::run::METRICS).is_file() {
                return Err(adclr_wgpu::Error::Data(format!(
                    "{}: no {} here: give a run directory",
                    run.display(),
                    adclr_wgpu::train::run::METRICS
                )));
            }
            adclr_wgpu::train::run::write_loss_png(&run)?;
            println!("wrote {}", run.join(adclr_wgpu::train::run::LOSS_PNG).display());
        }
        Command::Ablate { grid } => {
            adclr_wgpu::train::run::stop_on_signals();
            let r = adclr_wgpu::ablate::ablate(&grid, &|m| eprintln!("ablate: {m}"))?;
            println!(
                "{} cells, {} runs ({} done before, {} failed): {}",
                r.cells,
                r.runs,
                r.skipped,
                r.failed,
                r.out.join("results.md").display()
            );
        }
        Command::Info { device } => {
            let report = adclr_wgpu::cli::info::adapter_report(&choice(&device))?;
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        }
        Command::Tune { device, repeats, rows, dry_run } => {
            println!("{}", adclr_wgpu::perf::bench::tune_report(&choice(&device), repeats, rows, !dry_run)?);
        }
        Command::Bench { device, preset, batch, queries, steps, kernels, repeats, max_matmul } => {
            let model = adclr_wgpu::model::ModelConfig::preset(&preset).map_err(adclr_wgpu::Error::Data)?;
            let mut cfg = adclr_wgpu::model::AdclrConfig::new(model, batch);
            cfg.queries = queries;
            if queries == 0 {
                cfg.lambda = 0.0;
            }
            let mut report =
                serde_json::json!({ "step": adclr_wgpu::perf::bench::step_bench(&choice(&device), &cfg, steps)? });
            if kernels {
                report["kernels"] = adclr_wgpu::perf::bench::kernel_bench(&choice(&device), repeats, max_matmul)?;
            }
            println!("{report}");
        }
        Command::Plan { device, preset, batch, queries, local_crops } => {
            let model = adclr_wgpu::model::ModelConfig::preset(&preset).map_err(adclr_wgpu::Error::Data)?;
            let mut cfg = adclr_wgpu::model::AdclrConfig::new(model, batch);
            cfg.queries = queries;
            cfg.local_crops = local_crops;
            if queries == 0 {
                cfg.lambda = 0.0;
            }
            cfg.validate().map_err(adclr_wgpu::Error::Data)?;
            let mut e = Engine::open(&choice(&device))?;
            e.dry_run = true;
            let step = adclr_wgpu::model::step::AdclrStep::new(&e, &cfg, 0)?;
            println!(
                "{preset}, batch {batch}, Q {queries}, {local_crops} local crops on {}: {}",
                e.ctx.describe(),
                step.plan.summary()
            );
            for (group, bytes) in step.plan.by_group().iter().take(12) {
                println!("  {:>10.1} MiB  {group}", *bytes as f64 / (1u64 << 20) as f64);
            }
            if let Some((name, bytes)) = step.over_limit.iter().max_by_key(|t| t.1) {
                println!(
                    "{} tensors exceed this device's buffer or binding limit ({} bytes per binding); largest `{name}` {bytes} bytes",
                    step.over_limit.len(),
                    e.ctx.limits.max_storage_buffer_binding_size
                );
            }
        }
        Command::Export { checkpoint, out } => {
            adclr_wgpu::checkpoint::export_backbone(&checkpoint, &out)?;
            println!("wrote the teacher backbone to {}", out.display());
        }
        Command::Features { device, checkpoint, images, out, batch } => {
            let e = Engine::open(&choice(&device))?;
            let report =
                adclr_wgpu::eval::folder_features::extract(&e, &checkpoint, &images, &out, batch, |done, total| {
                    if done == total || done % 256 == 0 {
                        eprintln!("features: {done}/{total} images");
                    }
                })?;
            for s in report.skipped.iter().take(5) {
                eprintln!("warning: skipped {s}");
            }
            if report.skipped.len() > 5 {
                eprintln!("warning: ... and {} more unreadable files", report.skipped.len() - 5);
            }
            println!(
                "wrote {} feature rows to {} (names in {})",
                report.written,
                out.display(),
                report.names_file.display()
            );
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
