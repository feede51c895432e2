//! Command-line definitions (clap derive).

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "adclr-wgpu", version, about = "ADCLR self-supervised ViT pre-training on any GPU (wgpu)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Which GPU to use; `WGPU_BACKEND` is honoured when --backend is absent.
#[derive(Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    /// Backend: vulkan, metal, dx12 or gl.
    #[arg(long)]
    pub backend: Option<String>,
    /// Adapter index as listed by `adclr-wgpu info`.
    #[arg(long)]
    pub adapter: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every GPU adapter, the one that would be chosen, and the limits that matter.
    Info {
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Time the engine's kernels (matmul, attention) and print one JSON object.
    Bench {
        #[command(flatten)]
        device: DeviceArgs,
        /// Timed repetitions per kernel after one warm-up.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Largest square matmul side to time (1024 and 4096 are the reference points).
        #[arg(long, default_value_t = 1024)]
        max_matmul: usize,
    },
}
