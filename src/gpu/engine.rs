//! An open device together with its compiled kernels: what every launcher takes.

use super::choice::{
    AttentionKernel, ChoiceSource, ChoiceSources, Family, KernelChoice, MatmulKernel, Precision, RowKernels,
};
use super::context::GpuContext;
use super::kernels::Kernels;
use super::request::{EngineRequest, KernelRequest};
use super::shipped::HardwareFamily;
use super::GpuTensor;
use crate::error::{Error, Result};
use crate::gpu::entry;

pub struct Engine {
    pub ctx: GpuContext,
    pub kernels: Kernels,
    /// Plan only: `Alloc` hands out placeholders and nothing large is allocated, so the
    /// memory plan of any model can be printed on any device. Never run dispatches of a dry
    /// engine.
    pub dry_run: bool,
    /// The kernel of each family in use (`gpu::choice`).
    pub choice: KernelChoice,
    /// Where each family's choice came from.
    pub sources: ChoiceSources,
    /// Shader files of this choice not yet run on this kind of device (`gpu::shipped`), where
    /// the choice was not the caller's own: named in `kernel_summary`.
    pub untried: Vec<&'static str>,
    /// Two scratch buffers of `SCRATCH_LEN` floats for multi-pass reductions (column sums over
    /// row chunks, split-K weight gradients); only with a workgroup per row (GPUs). Each op
    /// that uses them consumes what it wrote before the next dispatch of the step writes them.
    pub scratch: Option<[GpuTensor; 2]>,
}

/// Floats in each of `Engine::scratch` (16 MiB).
pub const SCRATCH_LEN: usize = 1 << 22;

impl Engine {
    /// Opens the request's adapter with the kernels it asks for (`EngineRequest`): the one way
    /// an engine is made. An error names what the device lacks.
    pub fn open(request: &EngineRequest) -> Result<Self> {
        pollster::block_on(Self::open_async(request))
    }

    /// `open` as a future (what a browser awaits).
    pub async fn open_async(request: &EngineRequest) -> Result<Self> {
        let ctx = GpuContext::open_async(&request.adapter).await?;
        let (kernels, sources) = match &request.kernels {
            KernelRequest::Decide { precision, overrides, tuning } => {
                let tuned = tuning.as_deref().and_then(|path| super::tune::load(path, &ctx));
                KernelChoice::decide(&ctx, tuned, *precision, overrides)?
            }
            KernelRequest::Exact(kernels) => (*kernels, ChoiceSources::all(ChoiceSource::Explicit)),
        };
        Self::with_choice_async(ctx, kernels, sources).await
    }

    async fn with_choice_async(ctx: GpuContext, choice: KernelChoice, sources: ChoiceSources) -> Result<Self> {
        choice.check(&ctx).map_err(|e| Error::Gpu(format!("{}: {e}", ctx.describe())))?;
        let kernels = Kernels::new_async(&ctx).await?;
        let mut choice = choice;
        // A driver may reject an optional (subgroup) file: a caller who asked for its kernels
        // gets an error, anyone else the fallback with a note.
        let chosen_here = |source| matches!(source, ChoiceSource::Default | ChoiceSource::Tuned);
        let missing = |name: &str, what: &str, instead: &str, source| -> Result<bool> {
            if kernels.has(name) {
                return Ok(false);
            }
            let message = format!("{}: the {what} kernels did not compile", ctx.describe());
            if !chosen_here(source) {
                return Err(Error::Gpu(message));
            }
            eprintln!("note: {message}; using {instead}");
            Ok(true)
        };
        if choice.matmul == MatmulKernel::Subgroup
            && missing(entry::MATMUL_SG_NT, "subgroup matmul", "the register blocks", sources.matmul)?
        {
            choice.matmul = MatmulKernel::Blocked;
        }
        if choice.attention == AttentionKernel::Subgroup
            && missing(entry::ATTENTION_FORWARD_SG, "subgroup attention", "one invocation per row", sources.attention)?
        {
            choice.attention = AttentionKernel::PerRow;
        }
        if choice.attention == AttentionKernel::Quad
            && missing(entry::ATTENTION_FORWARD_QUAD, "quad attention", "shared-memory tiles", sources.attention)?
        {
            choice.attention = AttentionKernel::Tiled;
        }
        let coop_compiled = ctx.coop_sizes.iter().any(|s| kernels.has(&format!("matmul_coop{s}")));
        if choice.matmul == MatmulKernel::Coop && !coop_compiled {
            let rule = KernelChoice::rule(&ctx).matmul;
            if missing("matmul_coop", "cooperative-matrix matmul", rule.name(), sources.matmul)? {
                choice.matmul = rule;
            }
        }
        if choice.attention == AttentionKernel::Coop && coop_attention_compiled(&ctx, &kernels).is_none() {
            let rule = KernelChoice::rule(&ctx).attention;
            if missing("attention_coop", "cooperative-matrix attention", rule.name(), sources.attention)? {
                choice.attention = rule;
            }
        }
        if choice.precision == Precision::F16Mixed && !kernels.has(entry::MATMUL_TILES_F16_NT) {
            return Err(Error::Gpu(format!("{}: the f16 matmul kernels did not compile", ctx.describe())));
        }
        if choice.precision == Precision::F16Mixed
            && choice.attention == AttentionKernel::Quad
            && !kernels.has(entry::ATTENTION_FORWARD_QUAD_F16)
        {
            return Err(Error::Gpu(format!("{}: the f16 quad attention kernels did not compile", ctx.describe())));
        }
        // A kernel no machine of this kind has run is never silent (`gpu::shipped`).
        let family = match ctx.info.device_type {
            wgpu::DeviceType::Cpu => HardwareFamily::CpuDriver,
            _ => HardwareFamily::Gpu,
        };
        let asked = sources.matmul == ChoiceSource::Explicit && sources.attention == ChoiceSource::Explicit;
        let untried = if asked { Vec::new() } else { super::shipped::untried(&choice, family) };
        if !untried.is_empty() {
            eprintln!(
                "note: {}: these kernels have not run on this kind of device before: {} (docs/gpu.md, shipped \
                 and candidate kernels)",
                ctx.describe(),
                untried.join(", ")
            );
        }
        let scratch = match choice.rows {
            RowKernels::Invocation => None,
            RowKernels::Workgroup => Some([
                GpuTensor::zeros(&ctx, "reduction scratch 0", &[SCRATCH_LEN])?,
                GpuTensor::zeros(&ctx, "reduction scratch 1", &[SCRATCH_LEN])?,
            ]),
        };
        Ok(Self { ctx, kernels, dry_run: false, choice, sources, untried, scratch })
    }

    /// The cooperative-matrix size the Coop matmul runs: the largest the adapter lists whose
    /// file compiled.
    pub fn coop_matmul_size(&self) -> Option<u32> {
        [(16, super::entry::MATMUL_COOP16), (8, super::entry::MATMUL_COOP8)]
            .into_iter()
            .find(|(s, name)| self.ctx.coop_sizes.contains(s) && self.kernels.has(name))
            .map(|(s, _)| s)
    }

    /// The cooperative-matrix attention's size where it runs here (`choice::coop_attention_size`
    /// and its files compiled).
    pub fn coop_attention_size(&self) -> Option<u32> {
        coop_attention_compiled(&self.ctx, &self.kernels)
    }

    /// The row kernels run one invocation per row (no barriers), as CPU drivers prefer.
    pub fn rows_per_invocation(&self) -> bool {
        self.choice.rows == RowKernels::Invocation
    }

    /// One line on the kernels in use and where each choice came from.
    pub fn kernel_summary(&self) -> String {
        match self.untried.is_empty() {
            true => self.choice.summary(&self.sources),
            // The browser's page shows this line: the note reaches its visitors too.
            false => format!(
                "{}; not yet run on this kind of device: {}",
                self.choice.summary(&self.sources),
                self.untried.join(", ")
            ),
        }
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

/// The cooperative-matrix attention size this device can run whose files compiled.
fn coop_attention_compiled(ctx: &GpuContext, kernels: &Kernels) -> Option<u32> {
    super::choice::coop_attention_size(ctx).filter(|s| {
        kernels.has(&format!("attention_forward_coop{s}")) && kernels.has(&format!("attention_backward_query_coop{s}"))
    })
}
