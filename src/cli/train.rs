//! `adclr-wgpu train`: a new run or `--resume`, then the run's summary and k-NN with its floor.

use super::train_args::TrainArgs;
use crate::data::dataset::{Dataset, Split};
use crate::dist::open_collective;
use crate::error::{Error, Result};
use crate::eval::features::Backbone;
use crate::gpu::Engine;
use crate::tensorboard::EventWriter;
use crate::train::config::{FinalKnn, TrainConfig};
use crate::train::monitor::{with_floor, KnnMonitor};
use crate::train::run::{
    train_ranks, write_loss_png, TrainOutcome, Verbosity, CHECKPOINT, CONFIG, INTERRUPTED, LOSS_PNG,
};
use crate::train::run_dir::MetricsLog;
use crate::train::schedule::plural;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;

/// Runs shorter than this end with a note that they are smoke runs and which run learns.
const SMOKE_STEPS: usize = 500;
/// What the learning run costs where it was measured (README, "Learning").
const LEARNING_RUN_TIME: &str = "about 65 min on 2 AVX-512 CPU cores with lavapipe, a few minutes on a GPU";

/// The settings of a new run from the flags; with `--resume`, none may be given (the run's
/// own config.toml holds them).
fn settings(args: &TrainArgs) -> Result<TrainConfig> {
    if args.resume.is_none() {
        return args.resolve().map_err(Error::Data);
    }
    let mut plain = args.clone();
    plain.resume = None;
    plain.force = false;
    plain.stop_after = None;
    let given = plain.resolve().map_err(Error::Data)?;
    if args.config.is_some() || given != TrainConfig::default() {
        return Err(Error::Data("--resume continues with the run's own config.toml: give no other settings".into()));
    }
    Ok(Default::default())
}

pub fn run(args: TrainArgs) -> Result<()> {
    let tc = settings(&args)?;
    crate::train::run::stop_on_signals();
    let defaults = super::environment::native_defaults()?;
    // One process, or one of `mpirun -np N`'s ranks (a build with `--features mpi`).
    let launch = super::environment::launch();
    if launch.ranks > 1 {
        super::environment::let_waiting_ranks_yield();
    }
    let coll = open_collective(launch)?;
    let resume = args.resume.as_deref().map(|dir| crate::train::resume::ResumeFrom { dir, force: args.force });
    let out = match train_ranks(tc, resume, Verbosity::Progress, args.stop_after, coll.as_ref(), &launch, &defaults) {
        Ok(out) => out,
        // A NaN is found by every rank at the same step (the health check is combined) and
        // no rank waits: each ends normally, after rank 0 wrote the state before that step.
        Err(e @ Error::NonFinite { .. }) if coll.ranks() > 1 => {
            return Err(Error::Data(format!("rank {} of {}: {e}", coll.rank(), coll.ranks())));
        }
        // The other ranks wait in their next exchange: end them all, naming the rank.
        Err(e) if coll.ranks() > 1 => {
            eprintln!("error on rank {} of {}: {e}\nstopping every rank", coll.rank(), coll.ranks());
            coll.abort(1)
        }
        Err(e) => return Err(e),
    };
    if !coll.is_root() {
        return Ok(());
    }
    let steps = |n: usize| plural(n, "step");
    if out.interrupted {
        let by = match args.stop_after {
            Some(n) if !INTERRUPTED.load(Ordering::SeqCst) => {
                format!("stopped after {} of this call (--stop-after)", steps(n))
            }
            _ => "interrupted".to_string(),
        };
        println!(
            "{by} at step {}/{}; checkpoint written. Continue with: adclr-wgpu train --resume {}",
            out.steps_done,
            out.total_steps,
            out.run_dir.display()
        );
    } else {
        println!("run directory: {}", out.run_dir.display());
        match out.final_loss {
            Some(l) => println!("final loss: {l:.4} after {}", steps(out.steps_done)),
            None => println!("no steps run"),
        }
    }
    if out.skipped_images > 0 {
        println!("{} unreadable images were skipped", out.skipped_images);
    }
    println!("data wait: {:.0}% of the time", 100.0 * out.data_wait_share);
    if coll.ranks() > 1 {
        println!("{} ranks; gradient exchange: {:.0}% of the time", coll.ranks(), 100.0 * out.exchange_share);
    }
    if out.interrupted {
        return Ok(());
    }
    let tc = std::fs::read_to_string(out.run_dir.join(CONFIG))
        .ok()
        .and_then(|t| TrainConfig::from_toml(&t, "config").ok())
        .unwrap_or_default();
    if out.total_steps < SMOKE_STEPS {
        println!(
            "this was a smoke run ({}): it shows that everything works, not that pre-training helps. \
             The run that learns: adclr-wgpu train --config assets/laptop-fashion-mnist.toml \
             (2,500 steps; {LEARNING_RUN_TIME})",
            steps(out.total_steps)
        );
    }
    // The run's engine, as the k-NN during the run (precision, tuning and kernel variables).
    let e = match Engine::open(&tc.engine_request(&defaults)) {
        Ok(e) => e,
        Err(err) => {
            println!("k-NN and TensorBoard figures skipped: {err}");
            return Ok(());
        }
    };
    if let Err(err) = final_knn(&e, &out, &tc) {
        println!("k-NN skipped: {err}");
    }
    if let Err(err) = tensorboard_figures(&e, &out, &tc) {
        println!("TensorBoard figures skipped: {err}");
    }
    Ok(())
}

/// Queries in the attention map TensorBoard shows at the end of a run (at most).
const FIGURE_QUERIES: usize = 4;

/// loss.png and the final teacher's attention map of the first test image, as images in a
/// TensorBoard event file of the run directory at the last step.
fn tensorboard_figures(e: &Engine, out: &TrainOutcome, tc: &TrainConfig) -> Result<()> {
    let mut events = EventWriter::create(&out.run_dir)?;
    let step = out.steps_done as u64;
    if let Ok(png) = std::fs::read(out.run_dir.join(LOSS_PNG)) {
        events.png("figures/loss", step, &png)?;
    }
    let teacher = Backbone::load(&out.run_dir.join(CHECKPOINT))?;
    let images = Dataset::open(&tc.data, Split::Test).or_else(|_| Dataset::open(&tc.data, Split::Train));
    let image = images.and_then(|d| d.image(0)).map_err(Error::Data)?;
    let queries = tc.queries.min(FIGURE_QUERIES);
    let figure = crate::eval::attention_map::render(e, &teacher, &image, queries, tc.seed, 96)?;
    let mut png = Vec::new();
    figure
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|err| Error::Data(format!("attention map: {err}")))?;
    events.png("figures/attention_teacher", step, &png)
}

/// The k-NN of the trained teacher and of its random initialisation (`--final-knn`), with
/// progress, printed, written to metrics.jsonl and drawn in loss.png.
fn final_knn(e: &Engine, out: &TrainOutcome, tc: &TrainConfig) -> Result<()> {
    let plan = tc.final_knn;
    if plan == FinalKnn::Skip {
        return Ok(());
    }
    let trained = Backbone::load(&out.run_dir.join(CHECKPOINT))?;
    let m = KnnMonitor::open(&tc.data, 0, &trained.model, &trained.norm, "--final-knn none")?;
    let (train_len, test_len) = m.split_sizes();
    let Some((bank, queries)) = plan.sizes(out.total_steps * tc.batch, train_len, test_len) else { return Ok(()) };
    let m = m.with_sizes(bank, queries);
    if m.bank_size() < 20 {
        eprintln!("warning: a bank of {} images is fewer than k = 20: every bank image votes", m.bank_size());
    }
    eprintln!(
        "final k-NN (k 20) of the teacher and of its random initialisation: {}{} (--final-knn none skips it)",
        m.describe(),
        match plan {
            FinalKnn::Auto if bank < train_len || queries < test_len =>
                ", sized to the run (--final-knn all: every image)",
            _ => "",
        }
    );
    let bar = ProgressBar::new(2 * m.images() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images encoded, {msg} [{elapsed_precise} < {eta_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("trained teacher");
    let r = m.evaluate_with(e, trained.weights, &|done, _| bar.set_position(done as u64))?;
    bar.set_message("random-init floor");
    let half = m.images() as u64;
    let floor = m.floor_with(e, tc.seed, &|done, _| bar.set_position(half + done as u64))?;
    bar.finish_and_clear();
    let line = serde_json::json!({
        "step": out.steps_done, "final_knn": true, "knn_teacher_top1": r.top1, "knn_floor_top1": floor.top1,
        "knn_teacher_top5": r.top5, "knn_bank": r.bank, "knn_queries": r.queries,
    });
    MetricsLog::open(&out.run_dir)?.write(&line)?;
    write_loss_png(&out.run_dir)?;
    println!(
        "k-NN (k 20) of the teacher: {}, top-5 {:.1}% ({} queries, bank {})",
        with_floor(&r, &floor),
        r.top5,
        r.queries,
        r.bank
    );
    Ok(())
}
