//! The command line: flag definitions (`args`, `device_args`, `train_args`) and one file per command.

pub mod ablate;
pub mod args;
pub mod attention;
pub mod bench;
pub mod device_args;
pub mod embed;
pub mod environment;
pub mod eval;
pub mod export;
pub mod features;
pub mod help;
pub mod info;
pub mod plan;
pub mod plot;
pub mod session;
pub mod train;
pub mod train_args;
pub mod tune;

pub use args::{Cli, Command, EvalCommand, EvalSource};
pub use device_args::DeviceArgs;

use crate::error::Result;
use crate::gpu::{AdapterChoice, EngineRequest, NativeDefaults};

/// The adapter a command's device flags choose, a flag left out taken from the environment
/// (`WGPU_BACKEND`, `ADCLR_LIMITS`).
pub fn choice(d: &DeviceArgs) -> Result<AdapterChoice> {
    let (backend, limits) = environment::adapter_fallbacks()?;
    Ok(NativeDefaults { backend, limits, ..Default::default() }.adapter(flags_choice(d)))
}

/// The adapter the device flags alone name.
fn flags_choice(d: &DeviceArgs) -> AdapterChoice {
    AdapterChoice { backend: d.backend, adapter: d.adapter, limits: d.limits }
}

/// The engine a command that opens one at its device flags asks for: the flags, the
/// environment's kernel overrides and tuning cache, f32 unless `ADCLR_PRECISION` says otherwise.
pub fn engine_request(d: &DeviceArgs) -> Result<EngineRequest> {
    Ok(EngineRequest::native(flags_choice(d), None, &environment::native_defaults()?))
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let launch = environment::launch();
    if launch.ranks > 1 && !matches!(cli.command, Command::Train(_)) {
        return Err(crate::error::Error::Data(format!(
            "{} started {} ranks, but only `train` runs on several ranks: run this command once, without it",
            launch.launcher, launch.ranks
        )));
    }
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval { what: EvalCommand::Knn(a) } => eval::knn(a),
        Command::Eval { what: EvalCommand::Linear(a) } => eval::linear(a),
        Command::Eval { what: EvalCommand::Dense(a) } => eval::dense(a),
        Command::Eval { what: EvalCommand::Queries(a) } => eval::queries(a),
        Command::Attention { device, checkpoint, image, out, queries, seed, cell } => {
            attention::run(device, checkpoint, image, out, queries, seed, cell)
        }
        Command::Plot { run } => plot::run(run),
        Command::Ablate { grid, jobs, report } => ablate::run(grid, jobs, report),
        Command::Info { device } => info::run(device),
        Command::Tune { device, repeats, rows, dry_run } => tune::run(device, repeats, rows, dry_run),
        Command::Bench(b) => bench::run(b),
        Command::Plan(p) => plan::run(p),
        Command::Export { checkpoint, out } => export::run(checkpoint, out),
        Command::Session(args) => session::run(args),
        Command::Embed { device, checkpoint, data, images, out, seed } => {
            embed::run(device, embed::EmbedArgs { checkpoint, data, images, out, seed })
        }
        Command::Features { device, checkpoint, images, out, batch, patches, side } => {
            features::run(device, checkpoint, images, out, (batch, patches, side))
        }
    }
}
