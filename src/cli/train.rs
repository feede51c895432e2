//! `adclr-wgpu train`: a new run or `--resume`, then the run's summary and k-NN with its floor.

use super::train_args::TrainArgs;
use crate::dist::launch::{open_collective, Launch};
use crate::error::{Error, Result};
use crate::gpu::AdapterChoice;
use crate::train::run::{train_ranks, Verbosity};

/// Runs shorter than this end with a note that they are smoke runs and which run learns.
const SMOKE_STEPS: usize = 500;
/// What the learning run costs where it was measured (README, "Learning").
const LEARNING_RUN_TIME: &str = "about 65 min on 2 AVX-512 CPU cores with lavapipe, a few minutes on a GPU";

/// The settings of a new run from the flags; with `--resume`, none may be given (the run's
/// own config.toml holds them).
fn settings(args: &TrainArgs) -> Result<crate::train::config::TrainConfig> {
    if args.resume.is_none() {
        return args.resolve().map_err(Error::Data);
    }
    let mut plain = args.clone();
    plain.resume = None;
    plain.force = false;
    plain.stop_after = None;
    let given = plain.resolve().map_err(Error::Data)?;
    if args.config.is_some() || given != crate::train::config::TrainConfig::default() {
        return Err(Error::Data("--resume continues with the run's own config.toml: give no other settings".into()));
    }
    Ok(Default::default())
}

pub fn run(args: TrainArgs) -> Result<()> {
    let tc = settings(&args)?;
    crate::train::run::stop_on_signals();
    // One process, or one of `mpirun -np N`'s ranks (a build with `--features mpi`).
    let launch = Launch::current();
    let coll = open_collective()?;
    let resume = args.resume.as_deref().map(|dir| crate::train::resume::ResumeFrom { dir, force: args.force });
    let out = match train_ranks(tc, resume, Verbosity::Progress, args.stop_after, coll.as_ref(), &launch) {
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
    if coll.ranks() > 1 {
        println!("{} ranks; gradient exchange: {:.0}% of the time", coll.ranks(), 100.0 * out.exchange_share);
    }
    if !out.interrupted {
        let tc = std::fs::read_to_string(out.run_dir.join(crate::train::run::CONFIG))
            .ok()
            .and_then(|t| crate::train::config::TrainConfig::from_toml(&t, "config").ok())
            .unwrap_or_default();
        let choice = AdapterChoice { backend: tc.backend.clone(), adapter: tc.adapter, limits: tc.limits.clone() };
        if out.total_steps < SMOKE_STEPS {
            println!(
                "this was a smoke run ({} steps): it shows that everything works, not that pre-training helps. \
                 The run that learns: adclr-wgpu train --config assets/laptop-fashion-mnist.toml \
                 (2,500 steps; {LEARNING_RUN_TIME})",
                out.total_steps
            );
        }
        match crate::eval::checkpoint_knn::knn_and_floor_of_checkpoint(
            &out.run_dir.join(crate::train::run::CHECKPOINT),
            &tc.data,
            tc.seed,
            &choice,
        ) {
            Ok((r, floor)) => println!(
                "k-NN (k 20) of the teacher on the test split: {}, top-5 {:.1}% ({} queries, bank {})",
                crate::train::monitor::with_floor(&r, &floor),
                r.top5,
                r.queries,
                r.bank
            ),
            Err(e) => println!("k-NN skipped: {e}"),
        }
    }
    Ok(())
}
