//! Data-parallel training through MPI (issue 14), with the binary built with `--features mpi`
//! and Open MPI's `mpirun` (CI: apt-get install libopenmpi-dev openmpi-bin libclang-dev, then
//! `cargo test --features mpi --test data_parallel`). Two ranks on lavapipe, one machine.
#![cfg(all(feature = "mpi", unix))]

mod common;

use adclr_wgpu::checkpoint::{load_training, TrainingState};
use common::states::worst_excess;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_adclr-wgpu");

/// The small custom model with everything that couples images or ranks switched on: local
/// crops, queries, drop-path, centres; warm-up over, k-NN off.
#[rustfmt::skip]
const MORE: [&str; 18] = [
    "--queries", "2", "--local-crops", "2", "--drop-path", "0.1", "--lr", "0.05",
    "--warmup-epochs", "0", "--log-every", "1", "--eval-every", "0", "--workers", "1",
    "--final-knn", "none",
];

fn model() -> Vec<&'static str> {
    [&common::SMALL_MODEL_FLAGS[..], &MORE[..]].concat()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("adclr-dp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `adclr-wgpu train` with `args`, alone (ranks 1) or under `mpirun -np ranks`.
fn command(ranks: usize, args: &[&str]) -> Command {
    let mut c = match ranks {
        1 => Command::new(EXE),
        n => {
            let mut c = Command::new("mpirun");
            c.args(["--allow-run-as-root", "--oversubscribe", "-np", &n.to_string(), EXE]);
            c
        }
    };
    c.arg("train").args(args);
    c
}

fn run(ranks: usize, args: &[&str]) -> Output {
    let out = command(ranks, args).output().expect("mpirun (apt-get install openmpi-bin)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{ranks} rank(s), {args:?}:\n{text}");
    out
}

fn train(ranks: usize, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = model();
    args.extend_from_slice(extra);
    let out = out.to_str().unwrap();
    args.extend_from_slice(&["--out", out]);
    run(ranks, &args)
}

fn state(run_dir: &Path) -> TrainingState {
    load_training(&run_dir.join("checkpoint.safetensors")).unwrap().state
}

#[test]
fn two_ranks_end_with_the_state_of_one_process_with_the_same_global_batch() {
    let dir = temp("equal");
    let steps = ["--batch", "8", "--max-steps", "3"];
    train(1, &dir.join("one"), &steps);
    let out = train(2, &dir.join("two"), &steps);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 ranks; gradient exchange"), "{stdout}");
    let (one, two) = (state(&dir.join("one")), state(&dir.join("two")));
    let (excess, at) = worst_excess(&one, &two);
    eprintln!("2 ranks vs 1 process: {excess:.3} of the tolerance at {at}");
    assert!(excess <= 1.0, "2 ranks differ from 1 process beyond the tolerance at {at}");
    // The tolerance tells a wrong reduction apart: rank 0 training alone on its 4 images of
    // each global batch (no exchange) ends far outside it.
    train(1, &dir.join("alone"), &["--batch", "4", "--max-steps", "3"]);
    let (excess, at) = worst_excess(&one, &state(&dir.join("alone")));
    eprintln!("rank 0 alone vs 1 process: {excess:.1} times the tolerance at {at}");
    assert!(excess > 100.0, "no exchange should fail the tolerance by far: {excess:.1} at {at}");
    // Rank 0 alone wrote the run directory: one metrics line per step (and the run lock
    // would have stopped a second writer).
    let metrics = std::fs::read_to_string(dir.join("two/metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert!(metrics.contains("\"ranks\":2") && metrics.contains("exchange_share"), "{metrics}");
}

#[test]
fn a_two_rank_run_resumes_in_one_rank_and_back_to_the_same_end() {
    let dir = temp("resume");
    let steps = ["--batch", "8", "--max-steps", "4"];
    train(1, &dir.join("straight"), &steps);
    let cut = dir.join("cut");
    let out = train(2, &cut, &[&steps[..], &["--stop-after", "2"]].concat());
    assert!(String::from_utf8_lossy(&out.stdout).contains("(--stop-after) at step 2/4"));
    assert_eq!(state(&cut).step, 2);
    let cut_s = cut.to_str().unwrap();
    let out = run(1, &["--resume", cut_s, "--stop-after", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(--stop-after) at step 3/4"));
    run(2, &["--resume", cut_s]);
    let (excess, at) = worst_excess(&state(&dir.join("straight")), &state(&cut));
    eprintln!("2, 1, 2 ranks vs one straight run: {excess:.3} of the tolerance at {at}");
    assert!(excess <= 1.0, "2 ranks, 1 rank, 2 ranks differ from one straight run at {at}");
    let metrics = std::fs::read_to_string(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
}

/// The pid of rank `rank` of the mpirun writing `run_dir` (from /proc).
fn rank_pid(run_dir: &Path, rank: usize) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
        let env = std::fs::read(p.path().join("environ")).ok()?;
        let has = |hay: &[u8], needle: &[u8]| hay.split(|&b| b == 0).any(|s| s == needle);
        let is_rank = has(&env, want.as_bytes());
        let is_ours = has(&cmdline, run_dir.to_str()?.as_bytes()) && has(&cmdline, EXE.as_bytes());
        (is_rank && is_ours).then_some(pid)
    })
}

/// Starts a long 2-rank run; returns it once its first step is logged, with rank 1's pid.
fn start_long_run(run_dir: &Path) -> (std::process::Child, u32) {
    let mut args: Vec<&str> = model();
    args.extend_from_slice(&["--batch", "8", "--max-steps", "100000", "--out", run_dir.to_str().unwrap()]);
    let child = command(2, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    let metrics = run_dir.join("metrics.jsonl");
    while std::fs::read_to_string(&metrics).map_or(0, |s| s.lines().count()) < 1 {
        assert!(t.elapsed() < Duration::from_secs(120), "training did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rank_pid(run_dir, 1).expect("rank 1's process");
    (child, pid)
}

fn kill(signal: &str, pid: u32) {
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
}

/// Waits for `child`, failing after `limit`.
fn wait_for(mut child: std::process::Child, limit: Duration) -> Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("the other rank still runs {limit:?} after rank 1 ended");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn sigterm_to_one_rank_stops_every_rank_at_the_same_step_with_a_checkpoint() {
    let dir = temp("sigterm");
    let run_dir = dir.join("run");
    let (child, rank1) = start_long_run(&run_dir);
    kill("-TERM", rank1);
    let out = wait_for(child, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("interrupted at step"), "{stdout}");
    let st = state(&run_dir);
    assert!(st.step >= 1 && stdout.contains(&format!("interrupted at step {}/", st.step)), "{stdout}");
}

#[test]
fn killing_one_rank_ends_the_others_within_seconds() {
    let dir = temp("kill");
    let run_dir = dir.join("run");
    let (child, rank1) = start_long_run(&run_dir);
    let t = Instant::now();
    kill("-KILL", rank1);
    let out = wait_for(child, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(rank_pid(&run_dir, 0).is_none(), "rank 0 left running");
    // What was on disk stays a whole, loadable state.
    let _ = state(&run_dir);
}

#[test]
fn a_non_finite_step_stops_every_rank_naming_the_rank_and_keeps_the_last_finite_state() {
    // The largest learning rate accepted: a later forward pass overflows. The health check is
    // combined over the ranks, so every rank stops at the same step, names itself and ends
    // (no rank is left waiting); rank 0 wrote the state before that step.
    let dir = temp("nonfinite");
    let run_dir = dir.join("run");
    let lr = adclr_wgpu::train::config::MAX_LR.to_string();
    let mut args: Vec<&str> = model();
    let at = args.iter().position(|&a| a == "--lr").unwrap();
    args[at + 1] = &lr;
    args.extend_from_slice(&["--batch", "8", "--max-steps", "8", "--checkpoint-every", "0"]);
    args.extend_from_slice(&["--out", run_dir.to_str().unwrap()]);
    let t = Instant::now();
    let out = command(2, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(120));
    for rank in ["rank 0 of 2", "rank 1 of 2"] {
        assert!(stderr.contains(rank), "{stderr}");
    }
    assert!(stderr.contains("NaN or infinite") && stderr.contains("holds the last healthy state"), "{stderr}");
    let kept = state(&run_dir);
    assert!(kept.student.values().flatten().all(|v| v.is_finite()));
}
