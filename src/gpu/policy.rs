//! The kernel policy: which variant of each kernel family an engine runs.

use super::context::GpuContext;

/// Which variant of each kernel family runs, where several compute the same thing:
/// - matmul: the layout kernels named below (`ops::matmul`);
/// - rows (LayerNorm, softmax-like reductions, weight norm, gradient clipping): a workgroup
///   per row with barriers (Tiled, Large) or an invocation per row (Blocked, Subgroup: CPU
///   drivers, where barriers are expensive), see `rowwise`;
/// - attention: quads or shared-memory tiles (Large, Tiled; head_dim 64), subgroups of 8
///   (Subgroup) or one invocation per row (`ops::attention::variant`).
///
/// One policy per engine: `rule` picks it from the device, `tune` may pick another for the
/// matmul, and tests open one engine per policy so every variant is checked on lavapipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelPolicy {
    /// Workgroup-memory tiles of 64 x 64, 4 x 4 per invocation, K step TILE_K.
    Tiled,
    /// Workgroup-memory tiles of 128 x 128, 8 x 8 per invocation with vec4 reads (GPUs).
    Large,
    /// Register blocks with vec4 loads and no workgroup memory (CPU drivers: lavapipe).
    Blocked,
    /// As Blocked, with the eight lanes of a subgroup sharing their loads of A and both
    /// operands read from textures (CPU drivers whose subgroups are exactly 8 lanes: lavapipe
    /// on 256-bit SIMD). Falls back to the Blocked kernels for layouts it does not cover and
    /// operands no texture holds.
    Subgroup,
}

/// The subgroup size `matmul_subgroup.wgsl` is written for.
pub const MATMUL_SUBGROUP_LANES: u32 = 8;

impl KernelPolicy {
    /// `ADCLR_MATMUL=tiled|large|blocked|subgroup` if set (subgroup only where supported),
    /// else Subgroup or Blocked on CPU adapters and Large elsewhere.
    pub fn for_adapter(ctx: &GpuContext) -> Self {
        let subgroup_ok = Self::subgroup_supported(ctx);
        let rule = Self::rule(ctx);
        match std::env::var("ADCLR_MATMUL").ok().as_deref() {
            None | Some("") => rule,
            Some("tiled") => Self::Tiled,
            Some("large") => Self::Large,
            Some("blocked") => Self::Blocked,
            Some("subgroup") if subgroup_ok => Self::Subgroup,
            Some("subgroup") => {
                eprintln!(
                    "warning: ADCLR_MATMUL=subgroup needs 8-lane subgroups, which {} lacks; using {rule:?}",
                    ctx.describe()
                );
                rule
            }
            Some(other) => {
                eprintln!("warning: ADCLR_MATMUL={other} is not tiled, large, blocked or subgroup; using {rule:?}");
                rule
            }
        }
    }

    /// The built-in choice for a device type: Subgroup or Blocked on CPU adapters, Large elsewhere.
    pub fn rule(ctx: &GpuContext) -> Self {
        match ctx.info.device_type {
            wgpu::DeviceType::Cpu if Self::subgroup_supported(ctx) => Self::Subgroup,
            wgpu::DeviceType::Cpu => Self::Blocked,
            _ => Self::Large,
        }
    }

    /// The name ADCLR_MATMUL, the tuning cache and the JSON reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiled => "tiled",
            Self::Large => "large",
            Self::Blocked => "blocked",
            Self::Subgroup => "subgroup",
        }
    }

    /// The device runs subgroup kernels and its subgroups are always 8 lanes.
    pub fn subgroup_supported(ctx: &GpuContext) -> bool {
        ctx.subgroups
            && ctx.info.subgroup_min_size == MATMUL_SUBGROUP_LANES
            && ctx.info.subgroup_max_size == MATMUL_SUBGROUP_LANES
    }

    /// Row kernels one invocation per row (no barriers), as CPU drivers prefer.
    pub fn rowwise(self) -> bool {
        matches!(self, Self::Blocked | Self::Subgroup)
    }
}
