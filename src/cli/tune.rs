//! `adclr-wgpu tune`: times each kernel family's variants and keeps the fastest for the adapter.

use super::choice;
use super::device_args::DeviceArgs;
use crate::error::Result;

pub fn run(device: DeviceArgs, repeats: usize, rows: usize, dry_run: bool) -> Result<()> {
    println!("{}", crate::perf::bench::tune_report(&choice(&device), repeats, rows, !dry_run)?);
    Ok(())
}
