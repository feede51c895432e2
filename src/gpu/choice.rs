//! Which kernel of each family an engine runs, where several compute the same thing.
//!
//! Three families, each chosen on its own: the matmul and its operands' precision (`ops::matmul`), the row kernels
//! (LayerNorm, residual + LayerNorm, weight norm, gradient block sums, column reductions) and
//! the fused attention (`ops::attention`). `KernelChoice::decide` takes each family from
//! its override (`Overrides`: `ADCLR_MATMUL`, `ADCLR_PRECISION`, `ADCLR_ROWS`,
//! `ADCLR_ATTENTION`), else from this adapter's `adclr-wgpu tune` measurements (`gpu::tune`),
//! else from the built-in rule. Tests open one engine per combination they need
//! (`EngineRequest::exact`) so every variant is checked on lavapipe.

use super::context::GpuContext;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The subgroup size `matmul_subgroup.wgsl` and the subgroup attention are written for.
pub const SUBGROUP_LANES: u32 = 8;

/// The matmul kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatmulKernel {
    /// 128 x 128 workgroup tiles (64 x 128 or 128 x 64 for products with few rows or
    /// columns), 8 x 8 per invocation, vec4 loads, double-buffered workgroup memory, one entry
    /// point per layout (matmul_tiles.wgsl, matmul_tiles_wide.wgsl, matmul_tiles_tall.wgsl; GPUs).
    Tiles,
    /// Register blocks of 8 x 4 with vec4 loads and no workgroup memory (matmul_vec4.wgsl; CPU
    /// drivers such as lavapipe).
    Blocked,
    /// As Blocked with the eight lanes of a subgroup sharing their loads of A and both
    /// operands read from textures (matmul_subgroup.wgsl; CPU drivers whose subgroups are
    /// exactly 8 lanes: lavapipe on 256-bit SIMD).
    Subgroup,
    /// 64 x 64 workgroup tiles over any strides (matmul.wgsl): what the others fall back to
    /// for layouts they do not take; chosen alone only to test it.
    Strided,
    /// Cooperative matrices (tensor cores): f16 operands staged in workgroup memory, f32
    /// accumulation, any strides (matmul_coop8.wgsl / matmul_coop16.wgsl, the largest size the
    /// adapter lists). Only with precision f16-mixed, and only where asked for (a candidate:
    /// `gpu::shipped`).
    Coop,
}

/// How the row kernels and column reductions spread a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowKernels {
    /// A workgroup per row with barriers, two-pass column sums and split-K weight gradients
    /// through the engine's scratch buffers (GPUs).
    Workgroup,
    /// One invocation per row, no barriers (CPU drivers, where barriers are expensive).
    Invocation,
}

/// The fused attention kernels (each falls back to PerRow for shapes it does not take).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttentionKernel {
    /// Four lanes per row, 64 rows per workgroup, head_dim 64; needs subgroups of 4+ lanes.
    Quad,
    /// Shared-memory tiles of 64 rows, one invocation per row, head_dim 64.
    Tiled,
    /// Eight rows per subgroup from textures, head_dim % 4 == 0; needs 8-lane subgroups.
    Subgroup,
    /// One invocation per row, any shape.
    PerRow,
    /// Cooperative matrices (QK^T, PV and the gradients' products on f16 operands, softmax
    /// and accumulation in f32), head_dim 64; only with precision f16-mixed, where asked for (a
    /// candidate), the adapter lists a size and its subgroups are wide enough
    /// (`kernels::coop_attention_max_subgroups`).
    Coop,
}

/// The precision of the matmul and attention operands (the accumulation is f32 in both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// f32 operands.
    #[default]
    F32,
    /// Operands rounded to f16, products accumulated in f32: on cooperative matrices
    /// (`MatmulKernel::Coop`), else the f16 tiles or subgroup kernels (the layouts they do not
    /// take stay f32); in the attention, q, k, v and dO in the quad kernels, and with them P
    /// and dS in the cooperative-matrix ones (`ops::attention`; the other attention kernels
    /// stay f32). Not tuned: it changes the numbers.
    F16Mixed,
}

/// A family of kernels: its variants, names and what each needs of the device.
pub trait Family: Copy + PartialEq + std::fmt::Debug + 'static {
    /// The environment variable that forces a variant.
    const VARIABLE: &'static str;
    /// Every variant.
    const ALL: &'static [Self];
    /// The name the environment, the tuning cache and the reports use.
    fn name(self) -> &'static str;
    /// What the device lacks for this variant, if anything.
    fn missing_on(self, ctx: &GpuContext) -> Option<String>;
    /// The variants worth timing on a device (`tune`): those it runs, less test-only ones.
    fn candidates(ctx: &GpuContext) -> Vec<Self> {
        Self::ALL.iter().copied().filter(|v| v.missing_on(ctx).is_none()).collect()
    }
    /// The variant called `name`.
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
    /// Every name, for messages: "a, b or c".
    fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// The device has subgroups of exactly `SUBGROUP_LANES` lanes.
pub fn eight_lane_subgroups(ctx: &GpuContext) -> bool {
    ctx.subgroups && ctx.info.subgroup_min_size == SUBGROUP_LANES && ctx.info.subgroup_max_size == SUBGROUP_LANES
}

fn needs_eight_lanes(ctx: &GpuContext) -> Option<String> {
    (!eight_lane_subgroups(ctx)).then(|| format!("8-lane subgroups, which {} lacks", ctx.describe()))
}

impl Family for MatmulKernel {
    const VARIABLE: &'static str = "ADCLR_MATMUL";
    const ALL: &'static [Self] = &[Self::Tiles, Self::Blocked, Self::Subgroup, Self::Strided, Self::Coop];
    fn name(self) -> &'static str {
        match self {
            Self::Tiles => "tiles",
            Self::Blocked => "blocked",
            Self::Subgroup => "subgroup",
            Self::Strided => "strided",
            Self::Coop => "coop",
        }
    }
    fn missing_on(self, ctx: &GpuContext) -> Option<String> {
        match self {
            Self::Subgroup => needs_eight_lanes(ctx),
            Self::Coop if ctx.coop_sizes.is_empty() => Some(format!(
                "cooperative matrices of 8x8x8 or 16x16x16, f16 x f16 -> f32 (EXPERIMENTAL_COOPERATIVE_MATRIX \
                 with f16 and subgroups), which {} lacks",
                ctx.describe()
            )),
            Self::Tiles | Self::Blocked | Self::Strided | Self::Coop => None,
        }
    }
    fn candidates(ctx: &GpuContext) -> Vec<Self> {
        // Strided is the fallback of the others, slower than Tiles on every layout both take;
        // Coop is f16 and tuning times f32.
        let timed = |v: &Self| !matches!(v, Self::Strided | Self::Coop);
        Self::ALL.iter().copied().filter(|v| timed(v) && v.missing_on(ctx).is_none()).collect()
    }
}

impl Family for Precision {
    const VARIABLE: &'static str = "ADCLR_PRECISION";
    const ALL: &'static [Self] = &[Self::F32, Self::F16Mixed];
    fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16Mixed => "f16-mixed",
        }
    }
    fn missing_on(self, ctx: &GpuContext) -> Option<String> {
        match self {
            Self::F16Mixed if !ctx.shader_f16 => {
                Some(format!("f16 in shaders (SHADER_F16), which {} lacks", ctx.describe()))
            }
            _ => None,
        }
    }
}

impl Family for RowKernels {
    const VARIABLE: &'static str = "ADCLR_ROWS";
    const ALL: &'static [Self] = &[Self::Workgroup, Self::Invocation];
    fn name(self) -> &'static str {
        match self {
            Self::Workgroup => "workgroup",
            Self::Invocation => "invocation",
        }
    }
    fn missing_on(self, _: &GpuContext) -> Option<String> {
        None
    }
}

impl Family for AttentionKernel {
    const VARIABLE: &'static str = "ADCLR_ATTENTION";
    const ALL: &'static [Self] = &[Self::Quad, Self::Tiled, Self::Subgroup, Self::PerRow, Self::Coop];
    fn name(self) -> &'static str {
        match self {
            Self::Quad => "quad",
            Self::Tiled => "tiled",
            Self::Subgroup => "subgroup",
            Self::PerRow => "per-row",
            Self::Coop => "coop",
        }
    }
    fn missing_on(self, ctx: &GpuContext) -> Option<String> {
        match self {
            Self::Quad if !(ctx.subgroups && ctx.info.subgroup_min_size >= 4) => {
                Some(format!("subgroups of 4 or more lanes, which {} lacks", ctx.describe()))
            }
            Self::Subgroup => needs_eight_lanes(ctx),
            Self::Coop if coop_attention_size(ctx).is_none() => Some(format!(
                "cooperative matrices of 8x8x8 (with subgroups of 8+ lanes) or 16x16x16 (32+ lanes), f16 x f16 \
                 -> f32, which {} lacks",
                ctx.describe()
            )),
            _ => None,
        }
    }
    fn candidates(ctx: &GpuContext) -> Vec<Self> {
        // Coop is f16 and tuning times f32.
        Self::ALL.iter().copied().filter(|v| *v != Self::Coop && v.missing_on(ctx).is_none()).collect()
    }
}

/// The largest cooperative-matrix size the attention kernels can run here: listed by the
/// adapter (`GpuContext::coop_sizes`) with subgroups of at least 64 /
/// `coop_attention_max_subgroups` lanes.
pub fn coop_attention_size(ctx: &GpuContext) -> Option<u32> {
    let fits = |s: u32| ctx.info.subgroup_min_size * super::kernels::coop_attention_max_subgroups(s) >= 64;
    ctx.coop_sizes.iter().copied().filter(|&s| fits(s)).max()
}

/// Where a family's choice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoiceSource {
    /// Its environment variable.
    Environment,
    /// The tuning cache (`adclr-wgpu tune`).
    Tuned,
    /// The built-in rule.
    Default,
    /// Given by the caller (tests, tuning).
    Explicit,
}

/// What the built-in rule reads of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInputs {
    /// A CPU driver (lavapipe).
    pub cpu: bool,
    /// Subgroups of exactly `SUBGROUP_LANES` lanes.
    pub eight_lane_subgroups: bool,
    /// Subgroups of 4 or more lanes (the quad attention).
    pub quad_lanes: bool,
}

impl RuleInputs {
    pub fn of(ctx: &GpuContext) -> Self {
        Self {
            cpu: ctx.info.device_type == wgpu::DeviceType::Cpu,
            eight_lane_subgroups: eight_lane_subgroups(ctx),
            quad_lanes: AttentionKernel::Quad.missing_on(ctx).is_none(),
        }
    }
}

/// One variant per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelChoice {
    pub matmul: MatmulKernel,
    /// The matmul operands' precision: from `ADCLR_PRECISION` or the caller, never tuned.
    #[serde(default)]
    pub precision: Precision,
    pub rows: RowKernels,
    pub attention: AttentionKernel,
}

/// Where each family's choice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChoiceSources {
    pub matmul: ChoiceSource,
    pub precision: ChoiceSource,
    pub rows: ChoiceSource,
    pub attention: ChoiceSource,
}

impl ChoiceSources {
    pub fn all(source: ChoiceSource) -> Self {
        Self { matmul: source, precision: source, rows: source, attention: source }
    }
}

impl KernelChoice {
    /// Register-blocked matmul, an invocation per row and per attention row, f32: kernels that
    /// need no optional feature (the rule on a CPU driver without 8-lane subgroups, and what a
    /// browser session runs to compare with a native driver, `train::session`).
    pub const PORTABLE: Self = Self::f32(MatmulKernel::Blocked, RowKernels::Invocation, AttentionKernel::PerRow);

    /// These kernels with f32 operands.
    pub const fn f32(matmul: MatmulKernel, rows: RowKernels, attention: AttentionKernel) -> Self {
        Self { matmul, precision: Precision::F32, rows, attention }
    }

    /// The built-in rule for this device (`rule_for` its traits).
    pub fn rule(ctx: &GpuContext) -> Self {
        Self::rule_for(RuleInputs::of(ctx))
    }

    /// The built-in rule, f32, from kernels shipped on the device's family only
    /// (`gpu::shipped`): on CPU drivers register blocks (subgroup-shared with 8-lane
    /// subgroups) and an invocation per row; on GPUs register blocks (the fastest matmul
    /// timed on a GPU, H100 2026-11-27: the 128 x 128 tiles written since are candidates until
    /// timed there, `adclr-wgpu tune` picks them where they win), a workgroup per row and quad
    /// attention (shared-memory tiles without 4-lane subgroups).
    pub fn rule_for(inputs: RuleInputs) -> Self {
        if inputs.cpu {
            if inputs.eight_lane_subgroups {
                return Self::f32(MatmulKernel::Subgroup, RowKernels::Invocation, AttentionKernel::Subgroup);
            }
            return Self::PORTABLE;
        }
        let attention = if inputs.quad_lanes { AttentionKernel::Quad } else { AttentionKernel::Tiled };
        Self::f32(MatmulKernel::Blocked, RowKernels::Workgroup, attention)
    }

    /// What the device lacks for this choice, naming the family and variant.
    pub fn check(&self, ctx: &GpuContext) -> Result<()> {
        let problems: Vec<String> = [
            self.matmul.missing_on(ctx).map(|m| format!("the {} matmul needs {m}", self.matmul.name())),
            (self.matmul == MatmulKernel::Coop && self.precision != Precision::F16Mixed).then(|| {
                "the coop matmul computes on f16 operands: it needs precision f16-mixed (ADCLR_PRECISION, \
                 train --precision)"
                    .to_string()
            }),
            (self.attention == AttentionKernel::Coop && self.precision != Precision::F16Mixed).then(|| {
                "the coop attention computes on f16 operands: it needs precision f16-mixed (ADCLR_PRECISION, \
                 train --precision)"
                    .to_string()
            }),
            self.precision.missing_on(ctx).map(|m| format!("{} matmuls need {m}", self.precision.name())),
            self.rows.missing_on(ctx).map(|m| format!("the {} row kernels need {m}", self.rows.name())),
            self.attention.missing_on(ctx).map(|m| format!("the {} attention needs {m}", self.attention.name())),
        ]
        .into_iter()
        .flatten()
        .collect();
        match problems.is_empty() {
            true => Ok(()),
            false => Err(Error::Gpu(problems.join("; "))),
        }
    }

    /// The choice `Engine::open` makes for `KernelRequest::Decide`: per family its override,
    /// else `tuned` (this adapter's measured choice, where it still runs here), else the rule;
    /// the precision asked for (`train --precision`) over the override's, else f32. An override
    /// this device cannot run is an error that says which. Cooperative matrices run only where
    /// an override asks for them (`ADCLR_MATMUL=coop`, `ADCLR_ATTENTION=coop`): they are
    /// candidates on every family (`gpu::shipped`).
    pub fn decide(
        ctx: &GpuContext,
        tuned: Option<KernelChoice>,
        precision: Option<Precision>,
        overrides: &Overrides,
    ) -> Result<(Self, ChoiceSources)> {
        let rule = Self::rule(ctx);
        let tuned = tuned.filter(|t| t.check(ctx).is_ok());
        let (matmul, m) = pick(ctx, overrides.matmul, tuned.map(|t| t.matmul), rule.matmul)?;
        let (precision, p) = match precision {
            None => pick(ctx, overrides.precision, None, rule.precision)?,
            Some(asked) => match asked.missing_on(ctx) {
                Some(missing) => {
                    return Err(Error::Gpu(format!(
                        "--precision {} needs {missing}; use --precision f32",
                        asked.name()
                    )))
                }
                None => (asked, ChoiceSource::Explicit),
            },
        };
        let (rows, r) = pick(ctx, overrides.rows, tuned.map(|t| t.rows), rule.rows)?;
        let (attention, a) = pick(ctx, overrides.attention, tuned.map(|t| t.attention), rule.attention)?;
        let sources = ChoiceSources { matmul: m, precision: p, rows: r, attention: a };
        Ok((Self { matmul, precision, rows, attention }, sources))
    }

    /// One line, e.g. "matmul tiles f32 (default), rows workgroup (default), attention quad
    /// (ADCLR_ATTENTION)".
    pub fn summary(&self, sources: &ChoiceSources) -> String {
        let why = |s: ChoiceSource, variable: &str| match s {
            ChoiceSource::Environment => variable.to_string(),
            ChoiceSource::Tuned => "measured by `adclr-wgpu tune`".into(),
            ChoiceSource::Default => "default".into(),
            ChoiceSource::Explicit => "chosen by the caller".into(),
        };
        format!(
            "matmul {} ({}) {} ({}), rows {} ({}), attention {} ({})",
            self.matmul.name(),
            why(sources.matmul, MatmulKernel::VARIABLE),
            self.precision.name(),
            why(sources.precision, Precision::VARIABLE),
            self.rows.name(),
            why(sources.rows, RowKernels::VARIABLE),
            self.attention.name(),
            why(sources.attention, AttentionKernel::VARIABLE),
        )
    }
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
    /// The variants named by `value(variable)` (empty or None: no override), parsed once (the
    /// command line's `value` reads the table of knobs); a value that names no variant is an
    /// error that says which variable and what it may be.
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

/// A family's variant: its override, else the tuned one, else the rule's.
fn pick<F: Family>(ctx: &GpuContext, overridden: Option<F>, tuned: Option<F>, rule: F) -> Result<(F, ChoiceSource)> {
    let Some(variant) = overridden else {
        return Ok(match tuned {
            Some(t) => (t, ChoiceSource::Tuned),
            None => (rule, ChoiceSource::Default),
        });
    };
    if let Some(missing) = variant.missing_on(ctx) {
        return Err(Error::Gpu(format!(
            "{}={} needs {missing}; unset it or choose one of {}",
            F::VARIABLE,
            variant.name(),
            F::candidates(ctx).iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok((variant, ChoiceSource::Environment))
}
