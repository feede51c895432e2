//! `adclr-wgpu ablate --grid F`: a grid of trainings, each evaluated against the floor.

use crate::error::Result;
use std::path::PathBuf;

pub fn run(grid: PathBuf, jobs: usize, report: bool) -> Result<()> {
    crate::train::run::stop_on_signals();
    let r = match report {
        true => crate::ablate::report(&grid)?,
        false => {
            let defaults = super::environment::native_defaults()?;
            crate::ablate::ablate(&grid, jobs, &defaults, &|m| eprintln!("ablate: {m}"))?
        }
    };
    let results = r.out.join("results.md");
    match report {
        true => println!(
            "{} cells, {} of {} runs recorded ({} failed): {}",
            r.cells,
            r.recorded,
            r.runs,
            r.failed,
            results.display()
        ),
        false => println!(
            "{} cells, {} runs ({} done before, {} failed): {}",
            r.cells,
            r.runs,
            r.skipped,
            r.failed,
            results.display()
        ),
    }
    Ok(())
}
