//! `adclr-wgpu export`: the teacher backbone alone, loadable by timm.

use crate::error::Result;
use std::path::PathBuf;

pub fn run(checkpoint: PathBuf, out: PathBuf) -> Result<()> {
    crate::checkpoint::export_backbone(&checkpoint, &out)?;
    println!("wrote the teacher backbone to {}", out.display());
    Ok(())
}
