//! What a caller asks of `Engine::open`: an adapter, and how the kernels of each family are
//! decided. Every engine of the program opens through one of these, so a front end (the CLI,
//! the browser's `train::session`, a test) differs from another only in the request it makes.

use super::choice::{KernelChoice, Overrides, Precision};
use super::context::AdapterChoice;
use crate::error::Result;

/// An adapter and how its kernels are chosen.
#[derive(Clone, Debug)]
pub struct EngineRequest {
    pub adapter: AdapterChoice,
    pub kernels: KernelRequest,
}

/// How an engine's kernels are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelRequest {
    /// `KernelChoice::decide`: per family its override, else this adapter's tuning cache
    /// (where `tuned`), else the built-in rule; `precision` as asked (None: its override, else
    /// f32). An override or precision the device cannot run is an error that names it.
    Decide { precision: Option<Precision>, overrides: Overrides, tuned: bool },
    /// Exactly these kernels (tests and tuning try each one; the browser's portable set); an
    /// error names what the device lacks for them.
    Exact(KernelChoice),
}

impl EngineRequest {
    /// What the command line opens: the overrides of the environment, the tuning cache, the
    /// rule; `precision` from the settings (`train --precision`) over the environment's.
    pub fn native(adapter: AdapterChoice, precision: Option<Precision>) -> Result<Self> {
        let overrides = Overrides::from_environment()?;
        Ok(Self { adapter, kernels: KernelRequest::Decide { precision, overrides, tuned: true } })
    }

    /// The rule's kernels at `precision` with no override and no tuning: what a browser
    /// session runs, and so what `native` chooses for the same settings on a clean machine.
    pub fn rule(adapter: AdapterChoice, precision: Option<Precision>) -> Self {
        Self { adapter, kernels: KernelRequest::Decide { precision, overrides: Overrides::default(), tuned: false } }
    }

    /// Exactly `kernels`.
    pub fn exact(adapter: AdapterChoice, kernels: KernelChoice) -> Self {
        Self { adapter, kernels: KernelRequest::Exact(kernels) }
    }
}
