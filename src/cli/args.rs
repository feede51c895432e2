//! Command-line definitions (clap derive).

use super::device_args::DeviceArgs;
use super::train_args;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "adclr-wgpu", version, about = "ADCLR self-supervised ViT pre-training on any GPU (wgpu)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant (train's flags) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Pre-train a ViT with ADCLR (with no arguments: the tiny preset on the embedded
    /// Fashion-MNIST subset, a few minutes even without a GPU).
    #[command(allow_negative_numbers = true)]
    Train(train_args::TrainArgs),
    /// List every GPU adapter, the one that would be chosen, and the limits that matter.
    Info {
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Build the training step for a preset and batch and print its memory plan.
    Plan(PlanArgs),
    /// Evaluate a backbone on a labelled dataset.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// The last block's attention of CLS and of a few query tokens as heat maps (PNG).
    Attention {
        #[command(flatten)]
        device: DeviceArgs,
        /// A training checkpoint or an exported backbone.
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// The image to look at (any format the data folders accept).
        #[arg(long)]
        image: std::path::PathBuf,
        /// The PNG written.
        #[arg(long, default_value = "attention.png")]
        out: std::path::PathBuf,
        /// Query crops to show.
        #[arg(long, default_value_t = 3)]
        queries: usize,
        /// Seed of the query crops drawn.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Side of each tile in pixels.
        #[arg(long, default_value_t = 128)]
        cell: u32,
    },
    /// Run a grid of trainings (lambda, Q, query-attends, bidirectional, query scale, local
    /// crops...) with the same budget, over one or several seeds, each evaluated by k-NN (and
    /// the linear probe and `eval dense` when asked); resumable, checkpoints kept.
    Ablate {
        /// TOML: out = "DIR", random_init = true|false, seeds = [..], recipe = "F.toml" (a train
        /// config under [base]), evaluate = ["knn", "linear", "dense"], linear_epochs,
        /// linear_views, reference = "CELL" or ["CELL", ..], record = "DIR" (a folder to commit), [base] train settings,
        /// [axes] lists or [[cells]] tables (name = "..." and settings).
        #[arg(long)]
        grid: std::path::PathBuf,
        /// Cells trained at once (2 on a 2-core CPU with lavapipe: nearly twice the cells per hour).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Only write results.md and results.png from the results already there (the run
        /// folder's and the record's): nothing is trained or evaluated.
        #[arg(long)]
        report: bool,
    },
    /// Redraw a run directory's loss.png from its metrics.jsonl (after lines were added to it,
    /// or a run that stopped before drawing it).
    Plot {
        /// The run directory.
        run: std::path::PathBuf,
    },
    /// Write the teacher backbone of a training checkpoint alone (timm names), for PyTorch.
    Export {
        /// The training checkpoint (a run directory's checkpoint.safetensors).
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// The safetensors file written (timm's vit names: load_state_dict(strict=True)).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The web page's training session run natively (train::session): the same settings,
    /// embedded data, steps and k-NN against the random-init floor as the page, on this
    /// machine's adapter; k-NN points as JSON lines, then the result as one JSON object.
    Session(super::session::SessionArgs),
    /// A 2-D map (PCA) of the teacher's CLS features of a labelled test split, coloured by
    /// class, beside the same map of the random initialisation the run started from: a PNG and
    /// a CSV of the points (OUT with .csv).
    Embed {
        #[command(flatten)]
        device: DeviceArgs,
        /// A training checkpoint or an exported backbone.
        #[arg(long)]
        checkpoint: std::path::PathBuf,
        /// The labelled dataset whose test split is drawn [default: the run's own (config.toml
        /// beside the checkpoint), else the embedded subset]
        #[arg(long)]
        data: Option<String>,
        /// Test images drawn, evenly spaced over the split (0: all).
        #[arg(long, default_value_t = 2000)]
        images: usize,
        /// The PNG written; the CSV of coordinates goes beside it with the extension .csv.
        #[arg(long, default_value = "embed.png")]
        out: std::path::PathBuf,
        /// Seed of the random initialisation drawn beside it [default: the run's own
        /// (config.toml beside the checkpoint), else 0]
        #[arg(long)]
        seed: Option<u64>,
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
        /// The safetensors file written (`features` [n, D]; the image names, one per line, in
        /// OUT.names.txt beside it).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Images per GPU forward.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Also write the final-norm patch tokens, `patches` [n, N, D] (N = G x G patches of the
        /// grid in the metadata, row-major), beside `features`.
        #[arg(long)]
        patches: bool,
        /// Side the images are resized and centre-cropped to (a multiple of the patch size;
        /// positional embeddings interpolated as for local crops) [default: the model's]
        #[arg(long)]
        side: Option<usize>,
    },
    /// Time every matmul configuration this adapter can run, keep the fastest for it (used by
    /// every later command on this adapter) and print the timings as JSON.
    Tune {
        #[command(flatten)]
        device: DeviceArgs,
        /// Timed repetitions per configuration after one warm-up.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Rows of the timed linear layer (ViT-S qkv, 384 -> 1152; 394 = two images).
        #[arg(long, default_value_t = 394)]
        rows: usize,
        /// Print the timings without saving the choice.
        #[arg(long)]
        dry_run: bool,
    },
    /// Time the engine's kernels (matmul, attention) and print one JSON object.
    Bench(BenchArgs),
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Weighted k-NN (DINO: k 20, T 0.07) of the teacher's CLS features: train split as bank,
    /// test split as queries; top-1 and top-5.
    Knn(KnnArgs),
    /// Linear probe on frozen features (DINO's choice per model size), trained on the GPU
    /// with SGD; top-1 on the test split.
    Linear(LinearArgs),
    /// Patch (dense) features: scenes of four Fashion-MNIST items in 2x2 cells (64 px, each
    /// item used once, train scenes from the train split), each cell encoded alone and the
    /// scene whole; a per-patch ridge probe (foreground mIoU over the 10 item classes,
    /// background IoU apart), foreground-patch k-NN and a retrieval labelling, beside pixel
    /// controls, a positive control and, for a checkpoint, its random-init floor with paired
    /// gains; 95% bootstrap intervals over test scenes. One JSON object.
    Dense(DenseArgs),
    /// What the teacher's query-token outputs encode: the same crops in another image's view
    /// (cosine, top prototype kept) and the item class from a query output (k-NN) beside CLS.
    Queries(QueriesArgs),
}

/// `eval queries`: the images and crops probed.
#[derive(Args, Debug, Clone)]
pub struct QueriesArgs {
    #[command(flatten)]
    pub source: EvalSource,
    /// Test images whose crops are probed (evenly spaced over the split).
    #[arg(long, default_value_t = crate::eval::query_probe::QuerySettings::default().images)]
    pub images: usize,
    /// Training images whose crops make the k-NN bank.
    #[arg(long, default_value_t = crate::eval::query_probe::QuerySettings::default().bank)]
    pub bank: usize,
    /// Query crops per image (area 5-15% of the view, as in training).
    #[arg(long, default_value_t = crate::eval::query_probe::QuerySettings::default().queries)]
    pub queries: usize,
    /// Seed of the crops.
    #[arg(long, default_value_t = 0)]
    pub crop_seed: u64,
}

/// `eval dense`: the scenes, the probe and the k-NN bank.
#[derive(Args, Debug, Clone)]
pub struct DenseArgs {
    #[command(flatten)]
    pub source: EvalSource,
    /// Scenes built from the train split (the probe's training rows, the k-NN bank).
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().train_scenes)]
    pub train_scenes: usize,
    /// Scenes built from the test split.
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().test_scenes)]
    pub test_scenes: usize,
    /// Seed of the scene layouts (items, classes, offsets).
    #[arg(long, default_value_t = 0)]
    pub scene_seed: u64,
    /// Probe seeds: each holds out another fifth of the training scenes to choose the ridge
    /// strength of the per-patch probe (solved exactly; the spread over seeds is reported).
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().probe_seeds)]
    pub probe_seeds: usize,
    /// A second checkpoint or backbone evaluated on the same scenes, with the paired
    /// differences of --checkpoint against it (e.g. ADCLR's teacher against DINO's).
    #[arg(long)]
    pub against: Option<std::path::PathBuf>,
    /// The last blocks whose patch tokens are concatenated into the features.
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().blocks)]
    pub blocks: usize,
    /// Training patches in the patch k-NN and retrieval banks, evenly spaced (0: all).
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().knn_bank)]
    pub knn_bank: usize,
    /// Bootstrap resamples of the test scenes.
    #[arg(long, default_value_t = crate::eval::dense::DenseSettings::default().bootstrap)]
    pub bootstrap: usize,
}

#[derive(Args, Debug, Clone)]
pub struct LinearArgs {
    #[command(flatten)]
    pub source: EvalSource,
    /// Passes of SGD over the training features.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Base learning rate at batch 256.
    #[arg(long, default_value_t = 0.001)]
    pub lr: f64,
    /// Features per SGD step of the probe.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Augmented views of each training image (random resized crop and flip, as DINO's probe
    /// training); epoch k trains on view k mod N. 0: centre crops only.
    #[arg(long, default_value_t = 4)]
    pub augment_views: usize,
}

/// The backbone and data an evaluation uses.
#[derive(Args, Debug, Clone)]
pub struct EvalSource {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// A training checkpoint or an exported backbone.
    #[arg(long, required_unless_present = "random_init")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Evaluate a randomly initialised backbone instead (the floor): of --checkpoint's model
    /// sizes when a checkpoint is given, else of --preset.
    #[arg(long)]
    pub random_init: bool,
    /// Model sizes of a --random-init floor without --checkpoint.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// `embedded`, `fashion-mnist`, `cifar10:DIR`, `cifar100:DIR`, `stl10:DIR`, or a folder with
    /// train/ and val/ (or test/) class folders.
    #[arg(long, default_value = "embedded")]
    pub data: String,
    /// Seed of a random initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug, Clone)]
pub struct KnnArgs {
    #[command(flatten)]
    pub source: EvalSource,
    /// Neighbours that vote (DINO: 20).
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Temperature of the votes' weights exp(similarity / T) (DINO: 0.07).
    #[arg(long, default_value_t = 0.07)]
    pub temperature: f32,
    /// Images per GPU forward.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

/// `bench`: what to time.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Time whole training steps of this preset (synthetic data).
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Images per step (train's default).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Query tokens per image (train's default).
    #[arg(long, default_value_t = 10)]
    pub queries: usize,
    /// Local crops per image (train's default).
    #[arg(long, default_value_t = 2)]
    pub local_crops: usize,
    /// Timed steps after one warm-up step.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Also time single kernels: matmul (256^3 up to --max-matmul), the ViT-S qkv
    /// projection and attention, with GFLOP/s.
    #[arg(long)]
    pub kernels: bool,
    /// Timed repetitions per kernel after one warm-up.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Largest square matmul side to time (1024 and 4096 are the reference points).
    #[arg(long, default_value_t = 4096)]
    pub max_matmul: usize,
}

/// `plan`: the step whose memory plan is printed.
#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Model preset.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Images per step (train's default, so that plain `plan` describes plain `train`).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Query tokens per image (0: plain DINO).
    #[arg(long, default_value_t = 10)]
    pub queries: usize,
    /// Local crops per image (train's default).
    #[arg(long, default_value_t = 2)]
    pub local_crops: usize,
}
