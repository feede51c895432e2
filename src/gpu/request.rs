//! What a caller asks of `Engine::open`: an adapter, and how the kernels of each family are
//! decided. Every engine of the program opens through one of these, so a front end (the CLI,
//! the browser's `train::session`, a test) differs from another only in the request it makes.

use super::choice::{AttentionKernel, Family, KernelChoice, MatmulKernel, Precision, RowKernels};
use super::context::AdapterChoice;
use crate::error::{Error, Result};

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

/// Per-family variants that replace the tuned or rule's choice (`ADCLR_MATMUL`,
/// `ADCLR_PRECISION`, `ADCLR_ROWS`, `ADCLR_ATTENTION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub matmul: Option<MatmulKernel>,
    pub precision: Option<Precision>,
    pub rows: Option<RowKernels>,
    pub attention: Option<AttentionKernel>,
}

impl Overrides {
    /// The families' variables from the table of knobs, parsed once; a value that names no
    /// variant is an error that says which variable and what it may be.
    pub fn from_environment() -> Result<Self> {
        Self::from_values(|name| crate::knobs::named(name).and_then(crate::knobs::value))
    }

    /// The variants named by `value(variable)` (empty or None: no override).
    pub fn from_values(value: impl Fn(&str) -> Option<String>) -> Result<Self> {
        fn one<F: Family>(value: &impl Fn(&str) -> Option<String>) -> Result<Option<F>> {
            let Some(name) = value(F::VARIABLE).filter(|v| !v.is_empty()) else { return Ok(None) };
            F::parse(&name).map(Some).ok_or_else(|| {
                Error::Gpu(format!("{}={name} names no kernel; use {} (or unset it)", F::VARIABLE, F::names()))
            })
        }
        Ok(Self { matmul: one(&value)?, precision: one(&value)?, rows: one(&value)?, attention: one(&value)? })
    }
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
