//! Per-adapter kernel choice from measured candidates, kept in a small JSON cache.
//!
//! `adclr-wgpu tune` (the timing is `perf::bench::tune_report`) times each family's variants
//! on this adapter, the other families held at the built-in rule: the matmuls on the three
//! products of a ViT-S linear layer, the row kernels on a LayerNorm forward and backward, the
//! attention on ViT-S's fused attention. It keeps the fastest of each family per adapter;
//! `Engine::open` uses that choice where no environment variable overrides it
//! (`choice::KernelChoice::decide`).

use super::choice::KernelChoice;
use super::context::GpuContext;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What identifies an adapter in the cache: name, driver, driver version and backend.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} | {} | {} | {:?}", info.name, info.driver, info.driver_info, info.backend)
}

/// Median milliseconds of each variant of each family, by variant name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub matmul: Vec<(String, f64)>,
    pub rows: Vec<(String, f64)>,
    pub attention: Vec<(String, f64)>,
}

/// One adapter's entry in the cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TunedEntry {
    pub chosen: KernelChoice,
    pub measured: Measured,
    /// The adclr-wgpu version that measured it (kernels change between versions).
    pub version: String,
}

type Cache = BTreeMap<String, TunedEntry>;

fn read_cache(path: &Path) -> Result<Cache> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Data(format!(
                "tuning cache {} is not valid ({e}); delete it or run `adclr-wgpu tune`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cache::new()),
        Err(e) => Err(Error::Data(format!("cannot read the tuning cache {}: {e}", path.display()))),
    }
}

/// The cached choice for this adapter from `path`, if it was measured by this version and
/// still runs here. A cache that cannot be read is reported and ignored.
pub fn load(path: &Path, ctx: &GpuContext) -> Option<KernelChoice> {
    let cache = match read_cache(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: {e}; using the default kernels");
            return None;
        }
    };
    let entry = cache.get(&adapter_key(&ctx.info))?;
    (entry.version == env!("CARGO_PKG_VERSION") && entry.chosen.check(ctx).is_ok()).then_some(entry.chosen)
}

/// Writes (or replaces) this adapter's entry in the cache at `path`.
pub fn store(path: &Path, info: &wgpu::AdapterInfo, entry: TunedEntry) -> Result<()> {
    let mut cache = read_cache(path).unwrap_or_default();
    cache.insert(adapter_key(info), entry);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Data(format!("cannot create {} for the tuning cache: {e}", dir.display())))?;
    }
    let json = serde_json::to_vec_pretty(&cache).map_err(|e| Error::Data(e.to_string()))?;
    crate::fs::write_atomic(path, &json)
}
