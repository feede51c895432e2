//! The browser page's training session, natively: the same settings on this machine's adapter,
//! to set a browser's steps/s beside a native driver's (README "In a web browser").
//!
//!     cargo run --release --example session -- [page | small-test | SETTINGS.json] [STEPS]
//!
//! Prints each step's losses on stderr and the run's record as one JSON line on stdout.

use adclr_wgpu::train::session::{Settings, StepLog};
use adclr_wgpu::train::session_record;
use std::process::ExitCode;

fn settings(name: &str) -> Result<Settings, String> {
    match name {
        "page" => Ok(Settings::page()),
        "small-test" => Ok(Settings::small_test()),
        path => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e} (or use page, small-test)"))?;
            Settings::from_json(&text).map_err(|e| format!("{path}: {e}"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut s = match settings(args.first().map_or("small-test", String::as_str)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("session: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(steps) = args.get(1) {
        match steps.parse() {
            Ok(n) => s.steps = n,
            Err(_) => {
                eprintln!("session: STEPS `{steps}` is not a whole number");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut on_step = |log: &StepLog, secs: f64| eprintln!("step {} at {secs:.2} s: loss {:.6}", log.step, log.loss);
    let result = pollster::block_on(session_record::run(s, &mut on_step))
        .map_err(|e| e.to_string())
        .and_then(|record| serde_json::to_string(&record).map_err(|e| e.to_string()));
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("session: {e}");
            ExitCode::FAILURE
        }
    }
}
