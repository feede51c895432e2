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
    /// Pre-train a ViT with ADCLR (with no arguments: the tiny preset on the embedded
    /// Fashion-MNIST subset, a few minutes even without a GPU).
    #[command(allow_negative_numbers = true)]
    Train(crate::train_args::TrainArgs),
    /// List every GPU adapter, the one that would be chosen, and the limits that matter.
    Info {
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Build the training step for a preset and batch and print its memory plan.
    Plan {
        #[command(flatten)]
        device: DeviceArgs,
        #[arg(long, default_value = "tiny")]
        preset: String,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 10)]
        queries: usize,
        #[arg(long, default_value_t = 0)]
        local_crops: usize,
    },
    /// Write the teacher backbone of a training checkpoint alone (timm names), for PyTorch.
    Export {
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Teacher CLS features of every image in a folder, as safetensors `features` [n, D].
    Features {
        #[command(flatten)]
        device: DeviceArgs,
        /// A training checkpoint or an exported backbone.
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// Folder of images (searched recursively).
        #[arg(long)]
        images: std::path::PathBuf,
        #[arg(long)]
        out: std::path::PathBuf,
        /// Images per GPU forward.
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
    /// Time the engine's kernels (matmul, attention) and print one JSON object.
    Bench {
        #[command(flatten)]
        device: DeviceArgs,
        /// Time whole training steps of this preset instead of single kernels.
        #[arg(long)]
        preset: Option<String>,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, default_value_t = 10)]
        queries: usize,
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Timed repetitions per kernel after one warm-up.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Largest square matmul side to time (1024 and 4096 are the reference points).
        #[arg(long, default_value_t = 1024)]
        max_matmul: usize,
    },
}
