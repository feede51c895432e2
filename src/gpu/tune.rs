//! Per-adapter choice of matmul kernels from measured candidates.
//!
//! `adclr-wgpu tune` (the timing is `bench::measure_matmul_candidates`) times every matmul
//! configuration the adapter can run (the 64 x 64
//! workgroup-tiled kernel at several TILE_K, the 128 x 128 one, the register-blocked kernels,
//! the subgroup-shared kernels) on the
//! three matmuls of a ViT-S linear layer (forward, input gradient, weight gradient) and keeps
//! the fastest per adapter in a small JSON cache. `Engine::open` uses the cached choice; without
//! one it falls back to the built-in rule (KernelPolicy::for_adapter, TILE_K 16).

use super::context::GpuContext;
use super::policy::KernelPolicy;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The TILE_K the workgroup-tiled kernel is compiled with unless tuned otherwise.
pub const DEFAULT_TILE_K: u32 = 16;
pub const TILE_K_CANDIDATES: [u32; 3] = [8, 16, 32];
pub const LARGE_TILE_K_CANDIDATES: [u32; 2] = [8, 16];

/// Which matmul kernels an engine uses, and the K step of the workgroup-tiled ones (16 and
/// unused for the register-blocked and subgroup kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatmulConfig {
    pub policy: KernelPolicy,
    pub tile_k: u32,
}

impl MatmulConfig {
    /// Pipeline override constants for this configuration (TILE_K of the kernel it uses).
    pub fn overrides(&self) -> Vec<(&'static str, &'static str, f64)> {
        match self.policy {
            KernelPolicy::Tiled => vec![("matmul", "TILE_K", self.tile_k as f64)],
            KernelPolicy::Large => vec![("matmul_large", "TILE_K", self.tile_k as f64)],
            KernelPolicy::Blocked | KernelPolicy::Subgroup => vec![],
        }
    }

    /// Whether `ctx` can run this configuration.
    pub fn runs_on(&self, ctx: &GpuContext) -> bool {
        match self.policy {
            KernelPolicy::Tiled => TILE_K_CANDIDATES.contains(&self.tile_k),
            KernelPolicy::Large => LARGE_TILE_K_CANDIDATES.contains(&self.tile_k),
            KernelPolicy::Blocked => self.tile_k == DEFAULT_TILE_K,
            KernelPolicy::Subgroup => self.tile_k == DEFAULT_TILE_K && KernelPolicy::subgroup_supported(ctx),
        }
    }
}

/// Every configuration worth timing on this device.
pub fn candidates(ctx: &GpuContext) -> Vec<MatmulConfig> {
    let mut out: Vec<MatmulConfig> =
        TILE_K_CANDIDATES.iter().map(|&tile_k| MatmulConfig { policy: KernelPolicy::Tiled, tile_k }).collect();
    out.extend(LARGE_TILE_K_CANDIDATES.iter().map(|&tile_k| MatmulConfig { policy: KernelPolicy::Large, tile_k }));
    out.push(MatmulConfig { policy: KernelPolicy::Blocked, tile_k: DEFAULT_TILE_K });
    if KernelPolicy::subgroup_supported(ctx) {
        out.push(MatmulConfig { policy: KernelPolicy::Subgroup, tile_k: DEFAULT_TILE_K });
    }
    out
}

/// What identifies an adapter in the cache: name, driver, driver version and backend.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} | {} | {} | {:?}", info.name, info.driver, info.driver_info, info.backend)
}

/// `ADCLR_TUNING_FILE`, else `$XDG_CACHE_HOME/adclr-wgpu/matmul-tuning.json`, else
/// `$HOME/.cache/adclr-wgpu/matmul-tuning.json`.
pub fn cache_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ADCLR_TUNING_FILE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("adclr-wgpu").join("matmul-tuning.json"))
}

/// One adapter's entry in the cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TunedEntry {
    pub chosen: MatmulConfig,
    /// Milliseconds for the three timed matmuls, per candidate.
    pub measured: Vec<(MatmulConfig, f64)>,
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

/// The cached configuration for this adapter from `path`, if it was measured by this
/// version and still runs here. A cache that cannot be read is reported and ignored.
pub fn load(path: &Path, ctx: &GpuContext) -> Option<MatmulConfig> {
    let cache = match read_cache(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: {e}; using the default matmul kernels");
            return None;
        }
    };
    let entry = cache.get(&adapter_key(&ctx.info))?;
    (entry.version == env!("CARGO_PKG_VERSION") && entry.chosen.runs_on(ctx)).then_some(entry.chosen)
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

/// Where an engine's matmul configuration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// ADCLR_MATMUL was set.
    Environment,
    /// The tuning cache.
    Tuned,
    /// The built-in rule.
    Default,
    /// Given by the caller (tests, tuning).
    Explicit,
}

/// The configuration `Engine::open` uses on `ctx`: ADCLR_MATMUL, else the cache, else the rule.
pub fn config_for(ctx: &GpuContext) -> (MatmulConfig, ConfigSource) {
    let policy = KernelPolicy::for_adapter(ctx);
    let rule = MatmulConfig { policy, tile_k: DEFAULT_TILE_K };
    let forced = std::env::var("ADCLR_MATMUL").ok().is_some_and(|v| v == policy.name());
    if forced {
        return (rule, ConfigSource::Environment);
    }
    match cache_file().and_then(|p| load(&p, ctx)) {
        Some(tuned) => (tuned, ConfigSource::Tuned),
        None => (rule, ConfigSource::Default),
    }
}
