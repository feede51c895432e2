//! `adclr-wgpu tune`: times each kernel family's variants and keeps the fastest for the adapter.

use super::device_args::DeviceArgs;
use super::{choice, environment};
use crate::error::{Error, Result};

pub fn run(device: DeviceArgs, repeats: usize, rows: usize, dry_run: bool) -> Result<()> {
    let save_to = match dry_run {
        true => None,
        false => Some(environment::tuning_file().ok_or_else(|| {
            Error::Data("no cache folder: set ADCLR_TUNING_FILE, XDG_CACHE_HOME or HOME (or use --dry-run)".into())
        })?),
    };
    println!("{}", crate::perf::bench::tune_report(&choice(&device)?, repeats, rows, save_to.as_deref())?);
    Ok(())
}
