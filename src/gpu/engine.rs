//! An open device together with its compiled kernels: what every launcher takes.

use super::context::{AdapterChoice, GpuContext};
use super::kernels::Kernels;
use super::policy::KernelPolicy;
use super::tune::{self, ConfigSource, MatmulConfig};
use super::GpuTensor;
use crate::error::{Error, Result};

pub struct Engine {
    pub ctx: GpuContext,
    pub kernels: Kernels,
    /// Plan only: `Alloc` hands out placeholders and nothing large is allocated, so the
    /// memory plan of any model can be printed on any device. Never run dispatches of a dry
    /// engine.
    pub dry_run: bool,
    /// The matmul kernels in use and where that choice came from.
    pub matmul: (MatmulConfig, ConfigSource),
    /// The policy of the row, column-reduction and attention kernels (see `row_policy`).
    rows: KernelPolicy,
    /// Two scratch buffers of `SCRATCH_LEN` floats for multi-pass reductions (column sums over
    /// row chunks, split-K weight gradients); only where `row_policy` is a GPU one. Each op
    /// that uses them consumes what it wrote before the next dispatch of the step writes them.
    pub scratch: Option<[GpuTensor; 2]>,
}

/// Floats in each of `Engine::scratch` (16 MiB).
pub const SCRATCH_LEN: usize = 1 << 22;

impl Engine {
    /// Opens a device with the matmul configuration of `tune::config_for`: ADCLR_MATMUL,
    /// else this adapter's measured choice (`adclr-wgpu tune`), else the built-in rule.
    pub fn open(choice: &AdapterChoice) -> Result<Self> {
        let ctx = GpuContext::open(choice)?;
        let (config, source) = tune::config_for(&ctx);
        Self::with_config(ctx, config, source)
    }

    /// Opens a device with a given matmul configuration (tests and tuning try each one).
    pub fn open_with_config(choice: &AdapterChoice, config: MatmulConfig) -> Result<Self> {
        Self::with_config(GpuContext::open(choice)?, config, ConfigSource::Explicit)
    }

    /// Opens a device with a chosen matmul / row-kernel policy and the default TILE_K.
    pub fn open_with_policy(choice: &AdapterChoice, policy: KernelPolicy) -> Result<Self> {
        Self::open_with_config(choice, MatmulConfig { policy, tile_k: tune::DEFAULT_TILE_K })
    }

    fn with_config(ctx: GpuContext, config: MatmulConfig, source: ConfigSource) -> Result<Self> {
        if !config.runs_on(&ctx) {
            return Err(Error::Gpu(format!(
                "{} cannot run the matmul configuration {config:?} (the subgroup policy needs 8-lane \
                 subgroups; TILE_K is 8, 16 or 32 for `tiled`, 8 or 16 for `large`, 16 otherwise)",
                ctx.describe()
            )));
        }
        let kernels = Kernels::with_constants(&ctx, &config.overrides())?;
        let mut config = config;
        if config.policy == KernelPolicy::Subgroup && !kernels.has("matmul_sg_nt") {
            let message = format!("{}: the subgroup matmul kernels did not compile", ctx.describe());
            if source == ConfigSource::Explicit {
                return Err(Error::Gpu(message));
            }
            eprintln!("note: {message}; using the register-blocked kernels");
            config.policy = KernelPolicy::Blocked;
        }
        // Row and attention kernels follow the device, not the matmul kernels tuning picked
        // (a GPU whose fastest matmul is the register-blocked one still wants a workgroup per
        // row); a caller that names a policy gets that policy's row kernels too, so tests on a
        // CPU driver run every variant.
        let rows = if source == ConfigSource::Explicit { config.policy } else { KernelPolicy::rule(&ctx) };
        let scratch = if rows.rowwise() {
            None
        } else {
            Some([
                GpuTensor::zeros(&ctx, "reduction scratch 0", &[SCRATCH_LEN])?,
                GpuTensor::zeros(&ctx, "reduction scratch 1", &[SCRATCH_LEN])?,
            ])
        };
        Ok(Self { ctx, kernels, dry_run: false, matmul: (config, source), rows, scratch })
    }

    /// The matmul kernel family in use.
    pub fn policy(&self) -> KernelPolicy {
        self.matmul.0.policy
    }

    /// The policy the row kernels (LayerNorm, residual + LayerNorm, weight norm, gradient block
    /// sums), column reductions and attention follow: one invocation per row on CPU drivers, a
    /// workgroup per row, two-pass column sums and shared-memory attention on GPUs.
    pub fn row_policy(&self) -> KernelPolicy {
        self.rows
    }

    /// One line on the matmul kernels in use, e.g. "subgroup (default; `adclr-wgpu tune`
    /// measures the fastest on this adapter)".
    pub fn matmul_summary(&self) -> String {
        let (config, source) = self.matmul;
        let policy = config.policy.name();
        let tile = match config.policy {
            KernelPolicy::Tiled | KernelPolicy::Large => format!(", TILE_K {}", config.tile_k),
            KernelPolicy::Blocked | KernelPolicy::Subgroup => String::new(),
        };
        let why = match source {
            ConfigSource::Default => "default; `adclr-wgpu tune` measures the fastest on this adapter",
            ConfigSource::Tuned => "measured by `adclr-wgpu tune`",
            ConfigSource::Environment => "ADCLR_MATMUL",
            ConfigSource::Explicit => "chosen by the caller",
        };
        format!("{policy}{tile} ({why})")
    }

    /// A dispatch of `kernel` over `tensors` (see `Dispatch::new`).
    pub fn dispatch<P: super::ShaderParams>(
        &self,
        kernel: &'static str,
        params: &P,
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
