//! `adclr-wgpu plot RUN`: redraws a run's loss.png from its metrics.

use crate::error::{Error, Result};
use std::path::PathBuf;

pub fn run(run: PathBuf) -> Result<()> {
    if !run.join(crate::train::run::METRICS).is_file() {
        return Err(Error::Data(format!(
            "{}: no {} here: give a run directory",
            run.display(),
            crate::train::run::METRICS
        )));
    }
    crate::train::run::write_loss_png(&run)?;
    println!("wrote {}", run.join(crate::train::run::LOSS_PNG).display());
    Ok(())
}
