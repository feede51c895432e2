//! What a caller asks of `Engine::open`: an adapter, and how the kernels of each family are
//! decided. Every engine of the program opens through one of these, so a front end (the CLI,
//! the browser's `train::session`, a test) differs from another only in the request it makes.

use super::choice::{KernelChoice, Overrides, Precision};
use super::context::{AdapterChoice, Backend, DeviceLimits};
use std::path::PathBuf;

/// An adapter and how its kernels are chosen.
#[derive(Clone, Debug)]
pub struct EngineRequest {
    pub adapter: AdapterChoice,
    pub kernels: KernelRequest,
}

/// How an engine's kernels are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelRequest {
    /// `KernelChoice::decide`: per family its override, else this adapter's entry in the
    /// tuning cache `tuning` (where given), else the built-in rule; `precision` as asked (None:
    /// its override, else f32). An override or precision the device cannot run is an error
    /// that names it.
    Decide { precision: Option<Precision>, overrides: Overrides, tuning: Option<PathBuf> },
    /// Exactly these kernels (tests and tuning try each one; the browser's portable set); an
    /// error names what the device lacks for them.
    Exact(KernelChoice),
}

/// What a native process's environment decides for every engine it opens: the kernel
/// overrides, the tuning cache, and the backend and limits where a choice names none. The
/// command line reads it once (`cli::environment::native_defaults`, from the table of knobs)
/// and hands it down; the library never reads the environment, and a browser has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeDefaults {
    /// `ADCLR_MATMUL`, `ADCLR_PRECISION`, `ADCLR_ROWS`, `ADCLR_ATTENTION`.
    pub overrides: Overrides,
    /// The tuning cache (`ADCLR_TUNING_FILE`, else under `XDG_CACHE_HOME` or `HOME`).
    pub tuning_file: Option<PathBuf>,
    /// `WGPU_BACKEND`: the backend of a choice without `--backend`.
    pub backend: Option<Backend>,
    /// `ADCLR_LIMITS`: the limits of a choice without `--limits`.
    pub limits: Option<DeviceLimits>,
}

impl NativeDefaults {
    /// `choice` with the backend and limits it leaves open taken from these defaults.
    pub fn adapter(&self, choice: AdapterChoice) -> AdapterChoice {
        AdapterChoice { backend: choice.backend.or(self.backend), limits: choice.limits.or(self.limits), ..choice }
    }
}

impl EngineRequest {
    /// What the command line opens: `adapter` completed by `defaults`, their kernel overrides,
    /// their tuning cache, the rule; `precision` from the settings (`train --precision`) over
    /// the overrides'.
    pub fn native(adapter: AdapterChoice, precision: Option<Precision>, defaults: &NativeDefaults) -> Self {
        let kernels =
            KernelRequest::Decide { precision, overrides: defaults.overrides, tuning: defaults.tuning_file.clone() };
        Self { adapter: defaults.adapter(adapter), kernels }
    }

    /// The rule's kernels at `precision` with no override and no tuning: what a browser
    /// session runs, and so what `native` chooses for the same settings on a clean machine.
    pub fn rule(adapter: AdapterChoice, precision: Option<Precision>) -> Self {
        Self { adapter, kernels: KernelRequest::Decide { precision, overrides: Overrides::default(), tuning: None } }
    }

    /// Exactly `kernels`.
    pub fn exact(adapter: AdapterChoice, kernels: KernelChoice) -> Self {
        Self { adapter, kernels: KernelRequest::Exact(kernels) }
    }
}
