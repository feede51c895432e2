//! An open device together with its compiled kernels: what every launcher takes.

use super::context::{AdapterChoice, GpuContext};
use super::kernels::Kernels;
use crate::error::Result;

pub struct Engine {
    pub ctx: GpuContext,
    pub kernels: Kernels,
    /// Plan only: `Alloc` hands out placeholders and nothing large is allocated, so the
    /// memory plan of any model can be printed on any device. Never run dispatches of a dry
    /// engine.
    pub dry_run: bool,
}

impl Engine {
    pub fn open(choice: &AdapterChoice) -> Result<Self> {
        Self::open_with_constants(choice, &[])
    }

    /// Opens a device with a chosen matmul / row-kernel policy (tests cover both).
    pub fn open_with_policy(choice: &AdapterChoice, policy: super::kernels::MatmulPolicy) -> Result<Self> {
        let mut e = Self::open(choice)?;
        if policy == super::kernels::MatmulPolicy::Subgroup && !super::kernels::MatmulPolicy::subgroup_supported(&e.ctx)
        {
            return Err(crate::error::Error::Gpu(format!(
                "{} has no 8-lane subgroups for the subgroup matmul policy",
                e.ctx.describe()
            )));
        }
        e.kernels.matmul_policy = policy;
        Ok(e)
    }

    /// Opens a device whose pipelines use other override constants (tile sizes).
    pub fn open_with_constants(choice: &AdapterChoice, overrides: &[(&str, &str, f64)]) -> Result<Self> {
        let ctx = GpuContext::open(choice)?;
        let kernels = Kernels::with_constants(&ctx, overrides)?;
        Ok(Self { ctx, kernels, dry_run: false })
    }

    /// A dispatch of `kernel` over `tensors` (see `Dispatch::new`).
    pub fn dispatch(
        &self,
        kernel: &'static str,
        params: &[u32],
        tensors: &[&super::GpuTensor],
        workgroups: [u32; 3],
    ) -> Result<super::Dispatch> {
        super::Dispatch::new(&self.ctx, &self.kernels, kernel, params, tensors, workgroups)
    }

    /// Records `dispatches` into one encoder, submits once and waits.
    pub fn run(&self, dispatches: &[&super::Dispatch]) -> Result<()> {
        super::dispatch::run(&self.ctx, dispatches)
    }
}

/// The bits of an f32 for a parameter block.
pub fn bits(x: f32) -> u32 {
    x.to_bits()
}
