//! The device flags every GPU command shares.

use crate::gpu::context::{Backend, DeviceLimits};
use clap::Args;

/// Which GPU to use; `WGPU_BACKEND` is honoured when --backend is absent. (Serialized for
/// `train`, whose flags are laid over its TOML file.)
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
#[command(next_help_heading = "Device")]
pub struct DeviceArgs {
    /// Backend: vulkan, metal, dx12 or gl.
    #[arg(long, value_parser = Backend::parse_flag)]
    pub backend: Option<Backend>,
    /// Adapter index as listed by `adclr-wgpu info`.
    #[arg(long)]
    pub adapter: Option<usize>,
    /// Device limits: `adapter` (its own, the default) or `minimal` (wgpu's defaults, no
    /// subgroups or timestamps: what the smallest supported device offers). Also ADCLR_LIMITS.
    #[arg(long, value_parser = DeviceLimits::parse)]
    pub limits: Option<DeviceLimits>,
}
