//! `adclr-wgpu train` end to end on lavapipe with a very small custom model: flags and their
//! rejection, batches (shapes, ranges, determinism), bad images, a short run, an interrupted
//! run resumed to the same parameters, checkpoints never half-written, and the binary's
//! Ctrl-C handling.

mod common;

use adclr_wgpu::checkpoint;
use adclr_wgpu::cli::environment::native_defaults;
use adclr_wgpu::cli::{Cli, Command};
use adclr_wgpu::data::dataset::{Dataset, Split};
use adclr_wgpu::train::batcher::{BatchMaker, Shard};
use adclr_wgpu::train::config::TrainConfig;
use adclr_wgpu::train::resume::ResumeFrom;
use adclr_wgpu::train::run::{self, train, Verbosity};
use clap::Parser;
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("adclr-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A model small enough for lavapipe: 16 px, patch 4, D 32, depth 2, K 64.
fn small(out: &Path) -> TrainConfig {
    TrainConfig {
        image_size: 16,
        patch_size: 4,
        dim: 32,
        depth: 2,
        heads: 2,
        head_hidden: 64,
        head_bottleneck: 32,
        out_dim: 64,
        local_size: 8,
        local_crops: 1,
        queries: 3,
        batch: 4,
        max_steps: Some(4),
        log_every: 1,
        checkpoint_every: 2,
        warmup_epochs: 0.0,
        lr: 0.05,
        workers: 2,
        out: Some(out.display().to_string()),
        ..TrainConfig::default()
    }
}

fn parse(args: &[&str]) -> Result<TrainConfig, String> {
    let mut all = vec!["adclr-wgpu", "train"];
    all.extend_from_slice(args);
    let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Train(a) => a.resolve(),
        _ => Err("not train".into()),
    }
}

#[test]
fn flags_override_the_file_and_bad_values_are_named() {
    let dir = temp("flags");
    let file = dir.join("c.toml");
    std::fs::write(&file, "batch = 16\nlambda = 0.2\nqueries = 4\n").unwrap();
    let c = parse(&["--config", file.to_str().unwrap(), "--lambda", "0.7", "--bidirectional"]).unwrap();
    assert_eq!((c.batch, c.lambda, c.queries, c.bidirectional), (16, 0.7, 4, true));
    for (args, flag) in [
        (&["--batch", "0"][..], "--batch"),
        (&["--lambda", "-0.5"], "--lambda"),
        (&["--queries", "0"], "--queries"),
        (&["--preset", "vit-x"], "--preset"),
        (&["--image-size", "30"], "--image-size"),
        (&["--query-attends", "nobody"], "--query-attends"),
        (&["--out-dim", "100"], "--out-dim"),
        (&["--epochs", "0"], "--epochs"),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert!(parse(&["--batch", "many"]).unwrap_err().contains("--batch"));
    std::fs::write(&file, "batchsize = 3\n").unwrap();
    assert!(parse(&["--config", file.to_str().unwrap()]).unwrap_err().contains("batchsize"));
}

fn maker(tc: &TrainConfig) -> BatchMaker {
    let cfg = tc.adclr().unwrap();
    BatchMaker {
        cfg,
        train: tc.clone(),
        norm: adclr_wgpu::data::normalization::normalization_for(&tc.data),
        steps_per_epoch: 10,
        shard: Shard::WHOLE,
        micro_batches: 1,
    }
}

#[test]
fn batches_have_the_right_shapes_ranges_and_are_deterministic() {
    let tc = small(Path::new("/unused"));
    let ds = Dataset::embedded(Split::Train).unwrap();
    let m = maker(&tc);
    let a = m.make(&ds, 3).unwrap();
    a.inputs[0].validate(&m.cfg).unwrap();
    assert!(a.inputs[0].global_patches.iter().all(|v| v.is_finite() && v.abs() < 4.0));
    assert_eq!(a.inputs[0], m.make(&ds, 3).unwrap().inputs[0], "same seed and step, same batch");
    assert_ne!(a.inputs[0], m.make(&ds, 4).unwrap().inputs[0]);
    let other = maker(&TrainConfig { seed: 1, ..tc.clone() });
    assert_ne!(a.inputs[0].global_patches, other.make(&ds, 3).unwrap().inputs[0].global_patches);
    // The two global views of an image differ; the query crops repeat for both.
    let n = a.inputs[0].query_patches.len() / 2;
    assert_eq!(a.inputs[0].query_patches[..n], a.inputs[0].query_patches[n..]);
    let half = a.inputs[0].global_patches.len() / 2;
    assert_ne!(a.inputs[0].global_patches[..half], a.inputs[0].global_patches[half..]);
    // --query-views separate: each view's copy of a crop is augmented on its own, so the halves
    // differ; the first crop of the first view is drawn as in the shared mode.
    let sep = maker(&TrainConfig { query_views: adclr_wgpu::train::config::QueryViews::Separate, ..tc.clone() })
        .make(&ds, 3)
        .unwrap();
    let q = &sep.inputs[0].query_patches;
    assert_eq!(q.len(), 2 * n);
    assert_ne!(q[..n], q[n..]);
    let one_crop = tc.adclr().unwrap().model.patch_len();
    assert_eq!(q[..one_crop], a.inputs[0].query_patches[..one_crop]);
}

/// Rows `rank * n / ranks ..` of every block of `n` rows of `row` values (a rank's part of a
/// crop-major or [blocks][views][image] layout).
fn shard_of(all: &[f32], rows_per_block: usize, row: usize, rank: usize, ranks: usize) -> Vec<f32> {
    let per = rows_per_block / ranks;
    all.chunks(rows_per_block * row).flat_map(|b| b[rank * per * row..(rank + 1) * per * row].to_vec()).collect()
}

#[test]
fn each_rank_builds_its_part_of_the_batch_a_single_process_builds() {
    // Data parallelism (issue 14): ranks 0..N of a global batch of 8 see exactly the crops,
    // query crops and drop-path draws of the single process's batch, image for image.
    let tc = TrainConfig { batch: 8, local_crops: 2, drop_path: Some(0.3), ..small(Path::new("/unused")) };
    let ds = Dataset::embedded(Split::Train).unwrap();
    let whole = maker(&tc);
    let c = &whole.cfg;
    let m = &c.model;
    let (cpp, q) = (m.patch_len(), c.queries);
    let (n_g, n_l) = (m.patches(m.image_size), m.patches(m.local_size));
    for step in [0, 7, 13] {
        let all = whole.make(&ds, step).unwrap().inputs.remove(0);
        for ranks in [2, 4] {
            for rank in 0..ranks {
                let part = BatchMaker { shard: Shard { rank, ranks }, ..maker(&tc) };
                let got = part.make(&ds, step).unwrap().inputs.remove(0);
                got.validate(&part.shard.local(c)).unwrap();
                let b = c.batch;
                assert_eq!(got.global_patches, shard_of(&all.global_patches, b, n_g * cpp, rank, ranks), "step {step}");
                assert_eq!(got.local_patches, shard_of(&all.local_patches, b, n_l * cpp, rank, ranks));
                assert_eq!(got.query_patches, shard_of(&all.query_patches, b, q * cpp, rank, ranks));
                assert_eq!(got.global_drop, shard_of(&all.global_drop, b, 1, rank, ranks));
                assert_eq!(got.local_drop, shard_of(&all.local_drop, b, 1, rank, ranks));
            }
        }
        // Micro-batches (one process, or each rank) are shards of the global batch too.
        let micro = BatchMaker { shard: Shard { rank: 1, ranks: 2 }, micro_batches: 2, ..maker(&tc) };
        let inputs = micro.make(&ds, step).unwrap().inputs;
        assert_eq!(inputs.len(), 2);
        for (j, got) in inputs.iter().enumerate() {
            let b = c.batch;
            assert_eq!(got.global_patches, shard_of(&all.global_patches, b, n_g * cpp, 2 + j, 4));
            assert_eq!(got.query_patches, shard_of(&all.query_patches, b, q * cpp, 2 + j, 4));
            assert_eq!(got.local_drop, shard_of(&all.local_drop, b, 1, 2 + j, 4));
        }
        // The draws are not all equal, so the comparison above can tell shards apart.
        assert!(all.global_drop.contains(&0.0) && all.global_drop.iter().any(|&x| x > 0.0));
    }
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_binary_without_mpi_refuses_to_be_one_of_several_ranks() {
    // What `mpirun -np 2` of the default build gives each process: told how to build with MPI.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["train", "--max-steps", "1", "--out"])
        .arg(temp("no-mpi").join("run"))
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .env("OMPI_COMM_WORLD_RANK", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("rank 1 of 2") && stderr.contains("--features mpi"), "{stderr}");
    let other = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .arg("info")
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&other.stderr).contains("only `train` runs on several ranks"));
}

/// `ADCLR_MATMUL`, `ADCLR_ROWS` and `ADCLR_ATTENTION` are read once, when an engine opens:
/// `info` reports the choice and where each family's came from, and a name that is no kernel
/// is an error listing the names there are.
#[test]
fn kernel_variables_choose_each_family_and_bad_names_are_refused() {
    let info = |vars: &[(&str, &str)]| -> serde_json::Value {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"));
        cmd.arg("info").env_remove("ADCLR_MATMUL").env_remove("ADCLR_ROWS").env_remove("ADCLR_ATTENTION");
        let out = cmd.envs(vars.iter().copied()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let forced = info(&[("ADCLR_MATMUL", "strided"), ("ADCLR_ATTENTION", "per-row"), ("ADCLR_PRECISION", "f32")]);
    let kernels = &forced["kernels"];
    assert_eq!(kernels["choice"]["matmul"], "strided", "{kernels}");
    assert_eq!(kernels["choice"]["attention"], "per-row", "{kernels}");
    assert_eq!(kernels["sources"]["matmul"], "environment", "{kernels}");
    assert_ne!(kernels["sources"]["rows"], "environment", "{kernels}");
    assert_eq!(kernels["sources"]["precision"], "environment", "{kernels}");
    let bad = info(&[("ADCLR_ROWS", "sideways")]);
    let error = bad["kernels"]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("ADCLR_ROWS=sideways") && error.contains("workgroup or invocation"), "{bad}");
    // An engine refuses to open on it: nothing runs on a kernel nobody chose.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["bench", "--steps", "1"])
        .env("ADCLR_MATMUL", "fastest")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("ADCLR_MATMUL=fastest"), "{stderr}");
}

/// `train --precision f16-mixed` trains with dynamic loss scaling and logs the scale and the
/// skipped steps in metrics.jsonl (where the device has f16; elsewhere it says what is
/// missing); config.toml keeps the precision for --resume; a precision that does not exist is
/// refused by name.
#[test]
fn train_under_f16_mixed_logs_the_loss_scale() {
    let run_dir = temp("f16-train").join("run");
    let more = ["--queries", "2", "--batch", "2", "--max-steps", "12", "--log-every", "1", "--precision", "f16-mixed"];
    let args = [&["train"][..], &common::SMALL_MODEL_FLAGS[..], &more[..]].concat();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(args)
        .arg("--out")
        .arg(&run_dir)
        .env_remove("ADCLR_PRECISION")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("SHADER_F16") {
        assert!(!out.status.success() && stderr.contains("--precision f32"), "{stderr}");
        eprintln!("note: no f16 on this device; f16-mixed training not tested");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let metrics = std::fs::read_to_string(run_dir.join(run::METRICS)).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("loss_scale").is_some()).collect();
    assert_eq!(steps.len(), 12, "{metrics}");
    let mut previous = (65536.0, 0);
    for l in steps {
        let (scale, skipped) = (l["loss_scale"].as_f64().unwrap(), l["skipped_steps"].as_u64().unwrap());
        // Each step halves the scale and counts a skip, or leaves both (no growth in 12 steps).
        let halved = (scale, skipped) == (previous.0 / 2.0, previous.1 + 1);
        assert!(halved || (scale, skipped) == previous, "{previous:?} then {l}");
        assert!(l["loss"].as_f64().unwrap().is_finite(), "{l}");
        previous = (scale, skipped);
    }
    assert!(previous.1 < 12, "every step was skipped: {metrics}");
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("precision = \"f16-mixed\""), "{config}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["train", "--max-steps", "1", "--precision", "f16"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--precision") && stderr.contains("`f16`: use f32 or f16-mixed"),
        "{stderr}"
    );
}

#[test]
fn bad_images_are_skipped_named_or_stop_a_strict_run() {
    let dir = temp("bad-images");
    let imgs = dir.join("images");
    std::fs::create_dir_all(imgs.join("cats")).unwrap();
    std::fs::create_dir_all(imgs.join("dogs")).unwrap();
    let rgb = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 100]));
    rgb.save(imgs.join("cats/good.jpg")).unwrap();
    let jpeg = std::fs::read(imgs.join("cats/good.jpg")).unwrap();
    std::fs::write(imgs.join("cats/truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(imgs.join("cats/notes.png"), b"this is text, not a png").unwrap();
    image::RgbImage::from_pixel(1, 1, image::Rgb([9, 9, 9])).save(imgs.join("dogs/one.png")).unwrap();
    image::RgbaImage::from_pixel(20, 20, image::Rgba([1, 2, 3, 4])).save(imgs.join("dogs/rgba.png")).unwrap();
    image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_pixel(12, 12, image::Rgb([60000, 100, 3]))
        .save(imgs.join("dogs/deep.png"))
        .unwrap();
    image::GrayImage::from_pixel(9, 9, image::Luma([77])).save(imgs.join("dogs/gray.png")).unwrap();
    let ds = Dataset::open(imgs.to_str().unwrap(), Split::Train).unwrap();
    assert_eq!(ds.len(), 7);
    assert_eq!(ds.classes, vec!["cats", "dogs"]);
    let tc = TrainConfig { data: imgs.display().to_string(), batch: 5, ..small(&dir) };
    let m = maker(&tc);
    let mut skipped = Vec::new();
    for step in 0..6 {
        let b = m.make(&ds, step).unwrap();
        b.inputs[0].validate(&m.cfg).unwrap();
        assert!(b.inputs[0].global_patches.iter().all(|v| v.is_finite()));
        skipped.extend(b.skipped);
    }
    assert!(
        skipped.iter().any(|s| s.contains("truncated.jpg")) && skipped.iter().any(|s| s.contains("notes.png")),
        "{skipped:?}"
    );
    assert!(skipped.iter().all(|s| s.contains("truncated.jpg") || s.contains("notes.png")), "{skipped:?}");
    let strict = maker(&TrainConfig { strict: true, ..tc.clone() });
    // Some step's batch meets a bad file first or later; a strict run stops on it.
    let err = (0..4).find_map(|s| strict.make(&ds, s).err()).expect("a strict run stops");
    assert!(err.contains("--strict") && (err.contains("truncated.jpg") || err.contains("notes.png")), "{err}");
    // Too few readable images for a batch, an empty folder, a missing path.
    let too_big = maker(&TrainConfig { batch: 6, ..tc.clone() });
    assert!(too_big.make(&ds, 0).err().unwrap().contains("only 5 readable"));
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert!(Dataset::open(dir.join("empty").to_str().unwrap(), Split::Train).err().unwrap().contains("no image files"));
    assert!(Dataset::open("/no/such/place", Split::Train).err().unwrap().contains("no such file"));
}

fn tensors(path: &Path) -> checkpoint::TrainingState {
    checkpoint::load_training(path).unwrap().state
}

#[test]
fn short_run_then_interrupted_and_resumed_run_end_equal() {
    let dir = temp("resume");
    // k-NN of teacher and student every 2 steps (a 200-image bank): it must not touch training.
    let full = TrainConfig { eval_every: 2, eval_bank: 200, ..small(&dir.join("full")) };
    let out = train(full.clone(), None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!((out.steps_done, out.interrupted), (4, false));
    assert!(out.final_loss.is_some_and(f64::is_finite));
    for f in [run::CHECKPOINT, run::CONFIG, run::METRICS, run::LOSS_PNG] {
        assert!(dir.join("full").join(f).exists(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.join("full").join(run::METRICS)).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (knn, logs): (Vec<_>, Vec<_>) = lines.iter().partition(|v| v.get("knn_teacher_top1").is_some());
    assert_eq!(logs.len(), 4);
    for key in ["loss", "global_loss", "query_loss", "teacher_entropy", "kl_teacher_student", "centre_norm_cls", "lr"] {
        assert!(logs[3][key].as_f64().is_some_and(f64::is_finite), "{key} in {}", logs[3]);
    }
    // The floor (the initial teacher) at step 0, then teacher and student at steps 2 and 4.
    assert_eq!(knn.iter().map(|v| v["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 2, 4]);
    let floor = knn[0]["knn_floor_top1"].as_f64().unwrap();
    assert_eq!(knn[0]["knn_teacher_top1"].as_f64(), Some(floor));
    for v in &knn {
        assert_eq!(v["knn_floor_top1"].as_f64(), Some(floor));
        assert_eq!((v["knn_bank"].as_u64(), v["knn_queries"].as_u64()), (Some(200), Some(500)));
        for key in ["knn_teacher_top1", "knn_student_top1"] {
            assert!(v[key].as_f64().is_some_and(|t| (0.0..=100.0).contains(&t)), "{key} in {v}");
        }
    }
    let png = image::open(dir.join("full").join(run::LOSS_PNG)).unwrap();
    assert_eq!((png.width(), png.height()), (800, 640));

    // The same run without k-NN, cut after 3 steps (as by Ctrl-C), then resumed: the same end.
    let cut = TrainConfig { out: Some(dir.join("cut").display().to_string()), eval_every: 0, ..full.clone() };
    let first = train(cut, None, Verbosity::Quiet, Some(3), &native_defaults().unwrap()).unwrap();
    assert_eq!((first.steps_done, first.interrupted), (3, true));
    let cut_dir = dir.join("cut");
    // What a kill -9 during a write leaves: removed at the next start.
    let stale = cut_dir.join(".checkpoint.safetensors.tmp-4294967294");
    std::fs::write(&stale, b"half").unwrap();
    // config.toml edited after the checkpoint: refused, naming the setting, unless --force.
    let config = std::fs::read_to_string(cut_dir.join(run::CONFIG)).unwrap();
    let edited = config.lines().map(|l| if l.starts_with("lr = ") { "lr = 0.5" } else { l }).collect::<Vec<_>>();
    std::fs::write(cut_dir.join(run::CONFIG), edited.join("\n") + "\n").unwrap();
    let resume = ResumeFrom { dir: &cut_dir, force: false };
    let err = train(TrainConfig::default(), Some(resume), Verbosity::Quiet, None, &native_defaults().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("lr: 0.5 in config.toml, 0.05 in the checkpoint") && err.contains("--force"), "{err}");
    std::fs::write(cut_dir.join(run::CONFIG), &config).unwrap();
    let again =
        train(TrainConfig::default(), Some(resume), Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!((again.steps_done, again.interrupted), (4, false));
    assert!(!stale.exists(), "a stale temporary file stayed");
    assert_eq!(tensors(&dir.join("full").join(run::CHECKPOINT)), tensors(&cut_dir.join(run::CHECKPOINT)));
    // The resumed run's metrics continue the cut one's: each step logged once.
    let steps: Vec<u64> = std::fs::read_to_string(cut_dir.join(run::METRICS))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4]);
    // A second fresh run into a used directory is refused.
    let err = train(full, None, Verbosity::Quiet, None, &native_defaults().unwrap()).err().unwrap().to_string();
    assert!(err.contains("--resume"), "{err}");
}

/// `--limits minimal` (wgpu's default limits, no subgroups or timestamps) trains too.
#[test]
fn a_short_training_runs_under_minimal_limits() {
    let dir = temp("minimal");
    let tc = TrainConfig {
        max_steps: Some(2),
        limits: Some(adclr_wgpu::gpu::context::DeviceLimits::Minimal),
        ..small(&dir)
    };
    let out = train(tc, None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!((out.steps_done, out.interrupted), (2, false));
    assert!(out.final_loss.is_some_and(f64::is_finite));
    // An unknown name is refused where it is read: the flag, config.toml, ADCLR_LIMITS.
    let flag = Cli::try_parse_from(["adclr-wgpu", "train", "--limits", "tiny"]).expect_err("refused").to_string();
    assert!(flag.contains("--limits") && flag.contains("`tiny`: use adapter or minimal"), "{flag}");
    let file = TrainConfig::from_toml("limits = \"tiny\"", "c.toml").unwrap_err();
    assert!(file.contains("limits") && file.contains("tiny") && file.contains("minimal"), "{file}");
    let variable = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["info"])
        .env("ADCLR_LIMITS", "tiny")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&variable.stderr);
    assert!(!variable.status.success() && stderr.contains("ADCLR_LIMITS: `tiny`: use adapter or minimal"), "{stderr}");
}

#[test]
fn micro_batches_take_the_step_of_the_whole_batch() {
    // Batch 8 as 4 micro-batches of 2 (gradients and centre updates averaged on the host)
    // against the whole batch at once: the same state up to summation order, as two MPI
    // ranks (tests/data_parallel.rs, same tolerance).
    let dir = temp("micro");
    let base = TrainConfig { batch: 8, max_steps: Some(3), eval_every: 0, drop_path: Some(0.1), ..small(&dir) };
    let whole = TrainConfig { out: Some(dir.join("whole").display().to_string()), ..base.clone() };
    let split = TrainConfig { out: Some(dir.join("split").display().to_string()), micro_batch: 2, ..base.clone() };
    let a = train(whole, None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    let b = train(split, None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    let state = |d: &Path| checkpoint::load_training(&d.join(run::CHECKPOINT)).unwrap().state;
    let (excess, at) = common::states::worst_excess(&state(&a.run_dir), &state(&b.run_dir));
    assert!(excess <= 1.0, "micro-batches differ from the whole batch at {at}");
    assert!((a.final_loss.unwrap() - b.final_loss.unwrap()).abs() < 1e-4);
    let bad = TrainConfig { micro_batch: 3, ..base };
    let err = train(bad, None, Verbosity::Quiet, None, &native_defaults().unwrap())
        .err()
        .expect("3 does not divide 8")
        .to_string();
    assert!(err.contains("--micro-batch 3"), "{err}");
}

#[test]
fn a_step_over_the_binding_limit_runs_in_micro_batches() {
    // Under wgpu's default limits (128 MiB per binding) a 65,536-way head with 10 queries at
    // batch 32 has 704 logit rows of 256 KiB: 176 MiB in one tensor. The whole-batch step is
    // refused with the tensor named; `train` splits the batch into micro-batches instead.
    use adclr_wgpu::gpu::{AdapterChoice, Engine};
    use adclr_wgpu::model::step::AdclrStep;
    let dir = temp("over-limit");
    let tc = TrainConfig {
        out_dim: 65536,
        queries: 10,
        local_crops: 0,
        depth: 1,
        head_hidden: 32,
        head_bottleneck: 16,
        batch: 32,
        max_steps: Some(2),
        eval_every: 0,
        limits: Some(adclr_wgpu::gpu::context::DeviceLimits::Minimal),
        ..small(&dir)
    };
    let minimal = AdapterChoice { limits: Some(adclr_wgpu::gpu::context::DeviceLimits::Minimal), ..Default::default() };
    let e = Engine::open(&adclr_wgpu::gpu::EngineRequest::native(minimal.clone(), None, &native_defaults().unwrap()))
        .unwrap();
    let err = AdclrStep::new(&e, &tc.adclr().unwrap(), 0).err().expect("over the binding limit").to_string();
    assert!(err.contains("logits") && err.contains("134217728"), "{err}");
    drop(e);
    let out = train(tc.clone(), None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!((out.steps_done, out.interrupted), (2, false));
    assert!(out.final_loss.is_some_and(f64::is_finite));
    // The same step in micro-batches of 8 (4 instead of the 2 the limit needs): the same state.
    let four = TrainConfig { micro_batch: 8, out: Some(dir.join("four").display().to_string()), ..tc };
    let other = train(four, None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    let state = |d: &Path| checkpoint::load_training(&d.join(run::CHECKPOINT)).unwrap().state;
    let (excess, at) = common::states::worst_excess(&state(&out.run_dir), &state(&other.run_dir));
    assert!(excess <= 1.0, "2 and 4 micro-batches differ at {at}");
}

#[test]
fn checkpoints_are_never_seen_half_written() {
    use adclr_wgpu::model::step::AdclrStep;
    let dir = temp("atomic");
    let tc = small(&dir);
    let cfg = tc.adclr().unwrap();
    let e = common::engine();
    let st = AdclrStep::new(e, &cfg, 0).unwrap().state(e, 0).unwrap();
    let path = dir.join(run::CHECKPOINT);
    checkpoint::save_training(&path, &cfg.model, &checkpoint::Normalization::IMAGENET, &[], &st).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let loaded = checkpoint::load_training(&path);
                assert!(loaded.is_ok(), "read a broken checkpoint: {:?}", loaded.err().map(|e| e.to_string()));
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..20 {
        checkpoint::save_training(&path, &cfg.model, &checkpoint::Normalization::IMAGENET, &[], &st).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
}

#[cfg(unix)]
#[test]
fn ctrl_c_and_sigterm_write_a_checkpoint_and_stop() {
    let dir = temp("sigint");
    for signal in ["-INT", "-TERM"] {
        let run_dir = dir.join(signal);
        let exe = env!("CARGO_BIN_EXE_adclr-wgpu");
        let more =
            ["--queries", "2", "--batch", "2", "--max-steps", "400", "--log-every", "1", "--checkpoint-every", "1000"];
        let args = [&["train"][..], &common::SMALL_MODEL_FLAGS[..], &more[..]].concat();
        let child = std::process::Command::new(exe)
            .args(args)
            .arg("--out")
            .arg(&run_dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let metrics = run_dir.join(run::METRICS);
        let t = std::time::Instant::now();
        while std::fs::read_to_string(&metrics).map_or(0, |s| s.lines().count()) < 2 {
            assert!(t.elapsed().as_secs() < 120, "training did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let kill = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("interrupted at step") && stdout.contains("--resume"), "{stdout}");
        let st = checkpoint::load_training(&run_dir.join(run::CHECKPOINT)).unwrap().state;
        assert!(st.step >= 2 && st.step < 400, "{signal}: stopped at {}", st.step);
        assert!(adclr_wgpu::train::lock::RunLock::acquire(&run_dir).is_ok(), "{signal}: the run lock stays held");
    }
}

#[test]
fn a_run_directory_in_use_is_refused_and_a_stale_lock_is_taken_over() {
    let dir = temp("lock");
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    // A live owner (this test holds the OS lock): a fresh run is refused, nothing written.
    let held = adclr_wgpu::train::lock::RunLock::acquire(&out).unwrap();
    let cfg = TrainConfig { max_steps: Some(2), ..small(&out) };
    let err = train(cfg.clone(), None, Verbosity::Quiet, None, &native_defaults().unwrap()).err().unwrap().to_string();
    assert!(err.contains("being trained by process") && err.contains(&std::process::id().to_string()), "{err}");
    assert!(!out.join(run::CONFIG).exists());
    // The lock file of a process that no longer exists (as after kill -9) holds no OS lock.
    drop(held);
    std::fs::write(out.join(adclr_wgpu::train::lock::LOCK), "4294967295").unwrap();
    let done = train(cfg, None, Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!(done.steps_done, 2);
    // A resume of a directory in use is refused too; released at the end of a run, it goes.
    let held = adclr_wgpu::train::lock::RunLock::acquire(&out).unwrap();
    let resume = ResumeFrom { dir: &out, force: false };
    let err = train(TrainConfig::default(), Some(resume), Verbosity::Quiet, None, &native_defaults().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("being trained by process"), "{err}");
    drop(held);
    let again =
        train(TrainConfig::default(), Some(resume), Verbosity::Quiet, None, &native_defaults().unwrap()).unwrap();
    assert_eq!(again.steps_done, 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_step_leaves_the_last_finite_state_on_disk_and_says_where() {
    let dir = temp("nonfinite");
    // The largest learning rate accepted: the first updates are finite but huge, a later
    // forward pass overflows, and the state before that step is written (no periodic
    // checkpoint came before). An update that overflows itself is caught by the check of the
    // parameters after it: tests/model_step.rs.
    let out = dir.join("run");
    let cfg =
        TrainConfig { lr: adclr_wgpu::train::config::MAX_LR, max_steps: Some(6), checkpoint_every: 0, ..small(&out) };
    let err = train(cfg, None, Verbosity::Quiet, None, &native_defaults().unwrap()).err().unwrap();
    let (failed, msg) = match &err {
        adclr_wgpu::Error::NonFinite { step, .. } => (*step, err.to_string()),
        other => panic!("{other}"),
    };
    let ckpt = out.join(run::CHECKPOINT);
    let kept = checkpoint::load_training(&ckpt).unwrap();
    assert_eq!(kept.state.step + 1, failed, "{msg}");
    let said = format!("{} holds the last healthy state (step {})", ckpt.display(), kept.state.step);
    assert!(msg.contains("state before that step is saved") && msg.contains(&said) && msg.contains("--force"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A run whose stderr is no terminal (nohup, a batch job): the run-length rule and a plain line
/// per metrics step on stderr; `--stop-after` says so; the resumed call says where it starts;
/// the final k-NN lands in metrics.jsonl; config.toml holds the resolved settings; no
/// train.lock is left.
#[test]
fn a_run_without_a_terminal_logs_plain_lines_and_records_what_it_ran() {
    let run_dir = temp("plain-log").join("run");
    let exe = env!("CARGO_BIN_EXE_adclr-wgpu");
    let more = ["--queries", "2", "--batch", "4", "--max-steps", "3", "--log-every", "1", "--local-crops", "1"];
    let call = |extra: &[&str]| {
        let out = std::process::Command::new(exe).args(extra).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        (stdout.to_string(), stderr.to_string())
    };
    let dir = run_dir.to_str().unwrap();
    let first = [
        &["train"][..],
        &common::SMALL_MODEL_FLAGS[..],
        &more[..],
        &["--stop-after", "2", "--final-knn", "50", "--out", dir],
    ]
    .concat();
    let (stdout, stderr) = call(&first);
    assert!(stderr.contains("run length: 3 steps: --max-steps 3 (0.01 epochs of 500 steps)"), "{stderr}");
    for step in ["step 1/3 loss ", "step 2/3 loss "] {
        let line =
            stderr.lines().find(|l| l.starts_with(step)).unwrap_or_else(|| panic!("no `{step}` line in {stderr}"));
        assert!(line.contains("(global ") && line.contains(" img/s ETA 0:"), "{line}");
    }
    assert!(stdout.contains("stopped after 2 steps of this call (--stop-after) at step 2/3"), "{stdout}");
    assert!(!run_dir.join(adclr_wgpu::train::lock::LOCK).exists(), "a finished call leaves no train.lock");
    let config = std::fs::read_to_string(run_dir.join(run::CONFIG)).unwrap();
    assert!(config.starts_with("# The settings of this run") && config.contains("# run length: 3 steps"), "{config}");
    let tc = TrainConfig::from_toml(&config, "config.toml").unwrap();
    assert_eq!((tc.dim, tc.out_dim, tc.local_size, tc.max_steps, tc.drop_path), (32, 64, 8, Some(3), Some(0.0)));
    assert_eq!(tc.final_knn, adclr_wgpu::train::config::FinalKnn::Bank(50));

    let (stdout, stderr) = call(&["train", "--resume", dir]);
    assert!(stderr.contains("resuming at step 2 of 3") && stderr.contains("step 3/3 loss "), "{stderr}");
    assert!(
        stderr.contains("final k-NN (k 20) of the teacher and of its random initialisation: a bank of 50 images"),
        "{stderr}"
    );
    assert!(stdout.contains("k-NN (k 20) of the teacher: top-1 ") && stdout.contains("bank 50)"), "{stdout}");
    let metrics = std::fs::read_to_string(run_dir.join(run::METRICS)).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["step"].as_u64(), last["final_knn"].as_bool(), last["knn_bank"].as_u64()),
        (Some(3), Some(true), Some(50))
    );
    assert!(last["knn_teacher_top1"].as_f64().is_some() && last["knn_floor_top1"].as_f64().is_some());
    assert!(!run_dir.join(adclr_wgpu::train::lock::LOCK).exists());
}

/// The default final k-NN is sized to the run: a 1-step run of batch 4 (4 images trained on)
/// gets the smallest evaluation, 80 bank images and 20 queries, not the whole 2,000 + 500.
#[test]
fn a_short_run_ends_with_a_final_knn_its_own_size() {
    let run_dir = temp("final-knn-auto").join("run");
    let exe = env!("CARGO_BIN_EXE_adclr-wgpu");
    let args = [
        &["train"][..],
        &common::SMALL_MODEL_FLAGS[..],
        &["--queries", "2", "--batch", "4", "--max-steps", "1", "--out", run_dir.to_str().unwrap()],
    ]
    .concat();
    let out = std::process::Command::new(exe).args(&args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("a bank of 80 images from ")
            && stderr.contains("20 queries from ")
            && stderr.contains("sized to the run (--final-knn all: every image)"),
        "{stderr}"
    );
    let metrics = std::fs::read_to_string(run_dir.join(run::METRICS)).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["final_knn"].as_bool(), last["knn_bank"].as_u64(), last["knn_queries"].as_u64()),
        (Some(true), Some(80), Some(20))
    );
}

/// The run's TensorBoard event files, read by TensorBoard's own reader
/// (scripts/tensorboard-read.py), hold every number of metrics.jsonl at its step under its tag,
/// across a stop and a resume, and the loss curve and attention map as images. Without the
/// `tensorboard` Python package the check is skipped, unless ADCLR_EXPECT_TENSORBOARD is set
/// (.ci/run sets it).
#[test]
fn tensorboard_reads_the_metrics_of_a_stopped_and_resumed_run() {
    let run_dir = temp("tensorboard").join("run");
    let dir = run_dir.to_str().unwrap();
    let exe = env!("CARGO_BIN_EXE_adclr-wgpu");
    let call = |extra: &[&str]| {
        let out = std::process::Command::new(exe).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let more = ["--queries", "2", "--batch", "4", "--max-steps", "3", "--log-every", "1"];
    let k = ["--eval-every", "2", "--eval-bank", "40", "--final-knn", "40", "--stop-after", "2", "--out", dir];
    call(&[&["train"][..], &common::SMALL_MODEL_FLAGS[..], &more[..], &k[..]].concat());
    // Finish the run, then go back to the step-2 checkpoint and finish it again, as after a
    // crash between a metrics line and the next checkpoint: TensorBoard must forget the first
    // step 3 (and its final k-NN and figures) as metrics.jsonl does.
    let at_two = std::fs::read(run_dir.join(run::CHECKPOINT)).unwrap();
    call(&["train", "--resume", dir]);
    std::fs::write(run_dir.join(run::CHECKPOINT), at_two).unwrap();
    call(&["train", "--resume", dir]);
    let events = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter(|f| f.as_ref().unwrap().file_name().to_string_lossy().starts_with("events.out.tfevents."));
    assert!(events.count() >= 3, "event files of every call");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tensorboard-read.py");
    let out = match std::process::Command::new("python3").arg(&script).arg(&run_dir).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("ADCLR_EXPECT_TENSORBOARD").is_none(),
                "ADCLR_EXPECT_TENSORBOARD is set: python3: {e}"
            );
            eprintln!("skipped: python3: {e}");
            return;
        }
    };
    if out.status.code() == Some(3) {
        let expected = std::env::var_os("ADCLR_EXPECT_TENSORBOARD").is_some();
        assert!(!expected, "ADCLR_EXPECT_TENSORBOARD is set: {}", String::from_utf8_lossy(&out.stderr));
        eprintln!("skipped: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // metrics.jsonl's numbers by tag: (step, value) in the order written.
    let metrics = std::fs::read_to_string(run_dir.join(run::METRICS)).unwrap();
    let mut want: std::collections::BTreeMap<String, Vec<(u64, f64)>> = Default::default();
    for line in metrics.lines() {
        let (step, values) = adclr_wgpu::tensorboard::scalars_of(&serde_json::from_str(line).unwrap()).unwrap();
        for (tag, v) in values {
            want.entry(tag).or_default().push((step, v));
        }
    }
    let scalars = read["scalars"].as_object().unwrap();
    for tag in ["train/loss", "train/query_loss", "train/lr", "knn/teacher_top1", "knn/floor_top1"] {
        assert!(want.contains_key(tag), "{tag} not in metrics.jsonl");
    }
    assert_eq!(scalars.keys().cloned().collect::<Vec<_>>(), want.keys().cloned().collect::<Vec<_>>());
    for (tag, points) in &want {
        let got: Vec<(u64, f64)> =
            scalars[tag].as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect();
        assert_eq!(got.len(), points.len(), "{tag}: {got:?} against {points:?}");
        for ((gs, gv), (ws, wv)) in got.iter().zip(points) {
            // Stored as f32: the f32 nearest metrics.jsonl's value, up to the last bits of the f64
            // text round trip (serde_json's parse), far below an f32 step.
            let near = (*wv as f32) as f64;
            assert!(
                gs == ws && (gv - near).abs() <= 4.0 * f64::EPSILON * near.abs(),
                "{tag}: {got:?} against {points:?}"
            );
        }
    }
    // Each step once, after the restart too; the final k-NN apart from the k-NN during the run.
    assert_eq!(want["train/loss"].iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(want["knn_final/teacher_top1"].iter().map(|p| p.0).collect::<Vec<_>>(), vec![3]);
    for tag in ["figures/loss", "figures/attention_teacher"] {
        let images = read["images"][tag].as_array().unwrap();
        assert_eq!(images.len(), 1, "{tag}: the first run's figure forgotten: {read}");
        let image = &images[0];
        assert!(image[0] == 3 && image[1].as_u64() > Some(50) && image[2].as_u64() > Some(50), "{tag}: {read}");
    }
}
