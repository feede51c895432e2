//! `adclr-wgpu session`: the web page's training session (`train::session`) run natively, on
//! this machine's adapter: the same settings, embedded data, steps, kernel choice and k-NN
//! against the floor as the page. How the page's default run was chosen and how a change to it
//! is checked (docs/measurements.md); the browser itself is tested by scripts/web-test.sh.

use crate::error::{Error, Result};
use crate::train::session::{Settings, Trainer};
use crate::train::session_record::{train_with_knn, KnnPoint};
use std::path::PathBuf;

/// What `session` is asked for.
#[derive(clap::Args, Debug)]
pub struct SessionArgs {
    /// `page` (what the page trains by default), `small-test`, or a JSON file of settings (the
    /// page's: `steps`, `kernels`, `train` with `adclr-wgpu train`'s keys, `knn_bank`,
    /// `knn_every`).
    #[arg(long, default_value = "page")]
    pub settings: String,
    /// Steps [default: the settings']
    #[arg(long)]
    pub steps: Option<usize>,
    /// The run's seed (initialisation, data order, augmentations) [default: the settings']
    #[arg(long)]
    pub seed: Option<u64>,
    /// k-NN of the teacher and the floor every N steps during the run [default: the settings']
    #[arg(long)]
    pub knn_every: Option<usize>,
    /// Training images in the k-NN bank (0: no k-NN) [default: the settings']
    #[arg(long)]
    pub knn_bank: Option<usize>,
    /// Also write the result (settings, adapter, times, losses, k-NN points) to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn settings_of(args: &SessionArgs) -> Result<Settings> {
    let mut settings = match args.settings.as_str() {
        "page" => Settings::page()?,
        "small-test" => Settings::small_test(),
        path => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Data(format!("--settings {path}: {e} (use page, small-test or a JSON file of settings)"))
            })?;
            Settings::from_json(&text).map_err(|e| Error::Data(format!("--settings {path}: {e}")))?
        }
    };
    if let Some(steps) = args.steps {
        settings.steps = steps;
    }
    if let Some(seed) = args.seed {
        settings.train.seed = seed;
    }
    if let Some(every) = args.knn_every {
        settings.knn_every = every;
    }
    if let Some(bank) = args.knn_bank {
        settings.knn_bank = bank;
    }
    // As every command: a backend or limits the settings leave open come from the environment.
    let (backend, limits) = super::environment::adapter_fallbacks()?;
    settings.train.backend = settings.train.backend.or(backend);
    settings.train.limits = settings.train.limits.or(limits);
    Ok(settings)
}

/// Trains the session to its end, printing each k-NN point as a JSON line and the result as
/// one JSON object at the end.
pub fn run(args: SessionArgs) -> Result<()> {
    let settings = settings_of(&args)?;
    let result = pollster::block_on(async {
        let mut trainer = Trainer::open(settings.clone()).await?;
        let total = trainer.total_steps();
        eprintln!("session: {total} steps on {}", trainer.describe());
        let mut points: Vec<KnnPoint> = Vec::new();
        let record = train_with_knn(
            &mut trainer,
            &mut |log, seconds| {
                if log.step == 1 || log.step.is_multiple_of(25) || log.step == total {
                    eprintln!("session: step {}/{total}, loss {:.4}, {seconds:.1} s", log.step, log.loss);
                }
            },
            &mut |point| {
                println!("{}", serde_json::to_string(point).unwrap_or_default());
                points.push(*point);
            },
        )
        .await?;
        if settings.knn_bank > 0 {
            let end = KnnPoint { step: trainer.done(), figures: trainer.knn(settings.knn_bank).await? };
            println!("{}", serde_json::to_string(&end).unwrap_or_default());
            points.push(end);
        }
        let last = record.steps.last().copied();
        Ok::<_, Error>(serde_json::json!({
            "settings": settings,
            "adapter": record.adapter,
            "steps": record.steps.len(),
            "first_step_seconds": record.first_step_seconds,
            "steps_per_second": record.steps_per_second,
            "final_loss": last.map(|l| l.loss),
            "final_query_loss": last.map(|l| l.query_loss),
            "knn": points,
        }))
    })?;
    println!("{result}");
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&result).map_err(|e| Error::Data(e.to_string()))?;
        crate::fs::write_atomic(out, (text + "\n").as_bytes())?;
    }
    Ok(())
}
