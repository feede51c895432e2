//! `adclr-wgpu features`: teacher CLS features of an image folder, written to safetensors.

use super::args::DeviceArgs;
use super::choice;
use crate::error::Result;
use crate::gpu::Engine;
use std::path::PathBuf;

pub fn run(device: DeviceArgs, checkpoint: PathBuf, images: PathBuf, out: PathBuf, batch: usize) -> Result<()> {
    let e = Engine::open(&choice(&device))?;
    let report = crate::eval::folder_features::extract(&e, &checkpoint, &images, &out, batch, |done, total| {
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
    println!("wrote {} feature rows to {} (names in {})", report.written, out.display(), report.names_file.display());
    Ok(())
}
