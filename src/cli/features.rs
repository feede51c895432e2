//! `adclr-wgpu features`: teacher CLS features of an image folder, written to safetensors.

use super::device_args::DeviceArgs;
use super::engine_request;
use crate::error::Result;
use crate::gpu::Engine;
use std::path::PathBuf;

/// `(batch, patches, side)`: images per forward, whether patch tokens are written, the input side.
pub fn run(
    device: DeviceArgs,
    checkpoint: PathBuf,
    images: PathBuf,
    out: PathBuf,
    (batch, patches, side): (usize, bool, Option<usize>),
) -> Result<()> {
    let e = Engine::open(&engine_request(&device)?)?;
    let what = crate::eval::folder_features::What { batch, patches, side };
    let report = crate::eval::folder_features::extract(&e, &checkpoint, &images, &out, &what, |done, total| {
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
    let grid = match report.grid {
        Some(g) => format!(" and {g}x{g} patch tokens each"),
        None => String::new(),
    };
    println!(
        "wrote {} feature rows{grid} to {} (names in {})",
        report.written,
        out.display(),
        report.names_file.display()
    );
    Ok(())
}
