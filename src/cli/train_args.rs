//! `adclr-wgpu train` flags: every hyper-parameter of ADCLR.md; each overrides the
//! `--config` file, which overrides the defaults.

use crate::gpu::choice::{Family, Precision};
use crate::spec::config::QueryAttends;
use crate::train::config::{FinalKnn, QueryViews, TrainConfig};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// Every `Option` left `None` and every switch left off is skipped when the flags are laid over
/// the `--config` file (`resolve`).
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct TrainArgs {
    /// Stop at the first unreadable image instead of skipping it.
    #[arg(help_heading = "Data", long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// Images: `embedded` (a Fashion-MNIST subset of 2,000 train / 500 test images),
    /// `fashion-mnist` (Debian's dataset-fashion-mnist), `cifar10:DIR`, `cifar100:DIR`,
    /// `stl10:DIR`, `stl10-unlabeled:DIR`, an IDX file, or a folder of images (class sub-folders
    /// give labels; train/ and val/ or test/ give the splits).
    #[arg(help_heading = "Data", long)]
    pub data: Option<String>,
    /// Data threads (0: one per core).
    #[arg(help_heading = "Data", long)]
    pub workers: Option<usize>,
    /// Model preset: tiny, vit-s16 or vit-b16.
    #[arg(help_heading = "Model", long)]
    pub preset: Option<String>,
    /// Prototypes K of the head (0: the preset's; a multiple of 64).
    #[arg(help_heading = "Model", long)]
    pub out_dim: Option<usize>,
    /// Custom global view side (0: the preset's).
    #[arg(help_heading = "Model", long)]
    pub image_size: Option<usize>,
    /// Custom patch size (0: the preset's).
    #[arg(help_heading = "Model", long)]
    pub patch_size: Option<usize>,
    /// Custom embedding width D (0: the preset's).
    #[arg(help_heading = "Model", long)]
    pub dim: Option<usize>,
    /// Custom number of blocks (0: the preset's).
    #[arg(help_heading = "Model", long)]
    pub depth: Option<usize>,
    /// Custom number of attention heads (0: the preset's).
    #[arg(help_heading = "Model", long)]
    pub heads: Option<usize>,
    /// Custom head hidden width (0: 2048).
    #[arg(help_heading = "Model", long)]
    pub head_hidden: Option<usize>,
    /// Custom head bottleneck (0: 256).
    #[arg(help_heading = "Model", long)]
    pub head_bottleneck: Option<usize>,
    /// Student drop-path rate [default: 0.1 for vit-s16 and vit-b16, 0 for tiny]
    #[arg(help_heading = "Model", long)]
    pub drop_path: Option<f64>,
    /// Teacher EMA momentum at the start (cosine to 1).
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub momentum_teacher: Option<f64>,
    /// Teacher temperature after warm-up.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub teacher_temp: Option<f64>,
    /// Teacher temperature at the start.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub warmup_teacher_temp: Option<f64>,
    /// The query term's teacher temperature after its own warm-up [default: the CLS
    /// teacher's schedule]. PQCL warms it 0.04 -> 0.07.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub teacher_query_temp: Option<f64>,
    /// The query teacher's temperature at the start [default: --warmup-teacher-temp].
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub warmup_teacher_query_temp: Option<f64>,
    /// Student temperature.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub student_temp: Option<f64>,
    /// Weight of the query loss (0 = plain DINO).
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub lambda: Option<f64>,
    /// Query tokens per image (Q).
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub queries: Option<usize>,
    /// Smallest query crop, as a fraction of the image area.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub query_scale_min: Option<f64>,
    /// Largest query crop, as a fraction of the image area.
    #[arg(help_heading = "ADCLR and DINO", long)]
    pub query_scale_max: Option<f64>,
    /// Keys a query token attends to: cls+patches+self, cls+patches, patches or all.
    #[arg(help_heading = "ADCLR and DINO", long, value_parser = QueryAttends::parse)]
    pub query_attends: Option<QueryAttends>,
    /// `shared`: both global views carry the same augmented query crops (the paper's reading);
    /// `separate`: the same crop boxes, each view's copy photometrically augmented on its own.
    #[arg(help_heading = "ADCLR and DINO", long, value_parser = QueryViews::parse)]
    pub query_views: Option<QueryViews>,
    /// Every token attends to every token (ablation).
    #[arg(help_heading = "ADCLR and DINO", long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bidirectional: bool,
    /// Local crops per image (L).
    #[arg(help_heading = "Views", long)]
    pub local_crops: Option<usize>,
    /// Local crop side in pixels (0: the preset's).
    #[arg(help_heading = "Views", long)]
    pub local_size: Option<usize>,
    /// Area range of the global crops, as fractions of the image (DINO's --global_crops_scale)
    /// [default: 0.4 1]
    #[arg(help_heading = "Views", long, num_args = 2, value_names = ["MIN", "MAX"], allow_negative_numbers = true)]
    #[serde(skip)]
    pub global_crops_scale: Option<Vec<f64>>,
    /// Area range of the local crops, as fractions of the image (DINO's --local_crops_scale)
    /// [default: 0.05 0.4]
    #[arg(help_heading = "Views", long, num_args = 2, value_names = ["MIN", "MAX"], allow_negative_numbers = true)]
    #[serde(skip)]
    pub local_crops_scale: Option<Vec<f64>>,
    /// Smallest global crop, as a fraction of the image area (one end of --global-crops-scale).
    #[arg(help_heading = "Views", long, conflicts_with = "global_crops_scale")]
    pub global_scale_min: Option<f64>,
    /// Largest local crop, as a fraction of the image area (one end of --local-crops-scale).
    #[arg(help_heading = "Views", long, conflicts_with = "local_crops_scale")]
    pub local_scale_max: Option<f64>,
    /// Images per step (the global batch; DINO's --batch_size_per_gpu times the GPUs).
    #[arg(help_heading = "Optimisation", long, visible_alias = "batch-size")]
    pub batch: Option<usize>,
    /// Base learning rate at batch 256 (scaled by batch/256).
    #[arg(help_heading = "Optimisation", long)]
    pub lr: Option<f64>,
    /// Final learning rate of the cosine schedule.
    #[arg(help_heading = "Optimisation", long)]
    pub min_lr: Option<f64>,
    /// Weight decay at the start (cosine schedule).
    #[arg(help_heading = "Optimisation", long)]
    pub weight_decay: Option<f64>,
    /// Weight decay at the end.
    #[arg(help_heading = "Optimisation", long)]
    pub weight_decay_end: Option<f64>,
    /// Per-tensor gradient-norm clipping (0: off).
    #[arg(help_heading = "Optimisation", long)]
    pub clip_grad: Option<f64>,
    /// Seed of initialisation, data order and augmentations.
    #[arg(help_heading = "Optimisation", long)]
    pub seed: Option<u64>,
    /// Images per micro-batch: the batch runs in micro-batches one after the other, gradients
    /// averaged (same step, less memory; 0: the whole batch, or what the device's binding limit
    /// needs).
    #[arg(help_heading = "Optimisation", long)]
    pub micro_batch: Option<usize>,
    /// `f32`, or `f16-mixed`: matmul operands in f16 with f32 accumulation, f32 weights,
    /// optimizer state, softmax and losses, dynamic loss scaling (needs SHADER_F16)
    /// [default: ADCLR_PRECISION, else f32]
    #[arg(help_heading = "Optimisation", long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
    /// Passes over the data. Run length: with neither --epochs nor --max-steps, a 24-step smoke
    /// run; with one of them, that one; with both, the shorter [default: unset]
    #[arg(help_heading = "Schedule", long)]
    pub epochs: Option<usize>,
    /// Steps of the run (0: no cap, --epochs decides; see --epochs for the rule) [default: unset]
    #[arg(help_heading = "Schedule", long)]
    pub max_steps: Option<usize>,
    /// Linear learning-rate warm-up, in epochs.
    #[arg(help_heading = "Schedule", long)]
    pub warmup_epochs: Option<f64>,
    /// Epochs of teacher-temperature warm-up.
    #[arg(help_heading = "Schedule", long)]
    pub warmup_teacher_temp_epochs: Option<f64>,
    /// Epochs of the query teacher's temperature warm-up [default: --warmup-teacher-temp-epochs].
    #[arg(help_heading = "Schedule", long)]
    pub warmup_teacher_query_temp_epochs: Option<f64>,
    /// Epochs with the head's last layer frozen.
    #[arg(help_heading = "Schedule", long)]
    pub freeze_last_layer: Option<usize>,
    /// k-NN of teacher and student every N steps into metrics.jsonl and loss.png, with the
    /// initial teacher's (the random-init floor) before the first step (0: only at the end).
    #[arg(help_heading = "Evaluation", long)]
    pub eval_every: Option<usize>,
    /// Training images in the bank of those k-NN evaluations, evenly spaced (0: all).
    #[arg(help_heading = "Evaluation", long)]
    pub eval_bank: Option<usize>,
    /// The k-NN of the teacher after the run, beside the random-init floor, written to
    /// metrics.jsonl and loss.png: `auto` (the default: sized to the run, as many images as it
    /// trained on, at least 100), `none`, `all` (every training image in the bank, every test
    /// image a query) or N (a bank of N training images, evenly spaced).
    #[arg(help_heading = "Evaluation", long, value_parser = FinalKnn::parse)]
    pub final_knn: Option<FinalKnn>,
    /// A TOML file of settings (the keys are the flag names with underscores).
    #[arg(help_heading = "Run directory", long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(help_heading = "Run directory", long)]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// With --resume: continue although config.toml was edited since the checkpoint was
    /// written (the edited values apply from the resumed step on).
    #[arg(help_heading = "Run directory", long, requires = "resume")]
    #[serde(skip)]
    pub force: bool,
    /// End this call after N steps as if interrupted (checkpoint written, `--resume` goes on):
    /// a long run in sessions of N steps. Not a setting of the run.
    #[arg(help_heading = "Run directory", long, value_name = "N")]
    #[serde(skip)]
    pub stop_after: Option<usize>,
    /// Run directory [default: runs/<preset>-<seconds since 1970>]
    #[arg(help_heading = "Run directory", long)]
    pub out: Option<String>,
    /// Steps between checkpoints (also written at the end and on Ctrl-C).
    #[arg(help_heading = "Run directory", long)]
    pub checkpoint_every: Option<usize>,
    /// Steps between metric lines (loss terms and collapse monitors).
    #[arg(help_heading = "Run directory", long)]
    pub log_every: Option<usize>,
    /// --backend, --adapter, --limits: the same device flags as every other command.
    #[command(flatten)]
    #[serde(flatten)]
    pub device: super::device_args::DeviceArgs,
}

impl TrainArgs {
    /// Defaults, then the `--config` file, then the flags: the flags given (every field that
    /// is `Some`, or a switch that is on) are written over the file's table under the same
    /// names, so a new setting is declared here and in `TrainConfig` and nowhere else.
    pub fn resolve(&self) -> Result<TrainConfig, String> {
        let (mut table, origin) = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("--config {}: {e}", p.display()))?;
                let table = text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", p.display()))?;
                (table, p.display().to_string())
            }
            None => (toml::Table::new(), "the flags".to_string()),
        };
        table.extend(self.given()?);
        for (pair, keys) in [
            (&self.global_crops_scale, ["global_scale_min", "global_scale_max"]),
            (&self.local_crops_scale, ["local_scale_min", "local_scale_max"]),
        ] {
            if let Some(ends) = pair {
                for (key, &v) in keys.iter().zip(ends.iter()) {
                    table.insert(key.to_string(), toml::Value::Float(v));
                }
            }
        }
        let c = TrainConfig::from_toml(&table.to_string(), &origin)?;
        c.adclr()?;
        Ok(c)
    }
}

impl TrainArgs {
    /// The flags given, as TOML values under their setting names (TOML skips `None`; NaN and
    /// infinity pass through to the settings' checks).
    fn given(&self) -> Result<toml::Table, String> {
        // TOML integers are i64: a larger count is named here rather than failing anonymously.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) {
            for (key, value) in fields {
                if let serde_json::Value::Number(n) = value {
                    if n.as_i64().is_none() && n.is_u64() {
                        return Err(format!("--{} {n} is too large", key.replace('_', "-")));
                    }
                }
            }
        }
        toml::Table::try_from(self).map_err(|e| format!("flags: {e}"))
    }
}

/// `--precision`'s value, or an error listing the precisions.
fn parse_precision(name: &str) -> Result<Precision, String> {
    Precision::parse(name).ok_or_else(|| format!("`{name}`: use {}", Precision::names()))
}
