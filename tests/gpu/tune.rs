//! Matmul tuning: candidates per adapter, the per-adapter cache, configurations a device
//! cannot run.

use crate::common::*;
use adclr_wgpu::gpu::tune::{self, MatmulConfig, TunedEntry};
use adclr_wgpu::gpu::KernelPolicy;
use adclr_wgpu::gpu::{AdapterChoice, Engine};
use adclr_wgpu::perf::bench::measure_matmul_candidates;

fn temp_cache(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("adclr-tune-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("nested").join("matmul-tuning.json")
}

#[test]
fn measure_times_every_candidate_and_picks_the_fastest() {
    let e = engine();
    let candidates = tune::candidates(&e.ctx);
    assert_eq!(candidates.iter().any(|c| c.policy == KernelPolicy::Subgroup), KernelPolicy::subgroup_supported(&e.ctx));
    assert!(candidates.iter().any(|c| c.policy == KernelPolicy::Tiled && c.tile_k == 32));
    let (measured, best) = measure_matmul_candidates(&AdapterChoice::default(), (5, 8, 12), 1).unwrap();
    assert_eq!(measured.iter().map(|m| m.0).collect::<Vec<_>>(), candidates);
    assert!(measured.iter().all(|m| m.1.is_finite() && m.1 > 0.0), "{measured:?}");
    let fastest = measured.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    assert_eq!(best, fastest);
}

#[test]
fn cache_round_trip_keeps_one_entry_per_adapter() {
    let e = engine();
    let path = temp_cache("round-trip");
    assert_eq!(tune::load(&path, &e.ctx), None, "no file yet");
    let chosen = MatmulConfig { policy: KernelPolicy::Tiled, tile_k: 32 };
    let entry = TunedEntry { chosen, measured: vec![(chosen, 1.5)], version: env!("CARGO_PKG_VERSION").into() };
    tune::store(&path, &e.ctx.info, entry.clone()).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(chosen));
    // Another adapter's entry is kept beside this one.
    let mut other = e.ctx.info.clone();
    other.name = "some other GPU".into();
    let other_choice = MatmulConfig { policy: KernelPolicy::Blocked, tile_k: 16 };
    tune::store(&path, &other, TunedEntry { chosen: other_choice, ..entry.clone() }).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(chosen));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("some other GPU") && text.contains(&e.ctx.info.name), "{text}");
}

#[test]
fn stale_impossible_or_corrupt_cache_entries_are_ignored() {
    let e = engine();
    let path = temp_cache("ignored");
    let good = MatmulConfig { policy: KernelPolicy::Blocked, tile_k: 16 };
    let old = TunedEntry { chosen: good, measured: vec![], version: "0.0.0-old".into() };
    tune::store(&path, &e.ctx.info, old).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), None, "measured by another version");
    let impossible = MatmulConfig { policy: KernelPolicy::Tiled, tile_k: 12 };
    let entry = TunedEntry { chosen: impossible, measured: vec![], version: env!("CARGO_PKG_VERSION").into() };
    tune::store(&path, &e.ctx.info, entry).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), None, "TILE_K 12 is not a candidate");
    std::fs::write(&path, b"{ not json").unwrap();
    assert_eq!(tune::load(&path, &e.ctx), None, "corrupt file");
    // Tuning again replaces a corrupt file.
    let entry = TunedEntry { chosen: good, measured: vec![], version: env!("CARGO_PKG_VERSION").into() };
    tune::store(&path, &e.ctx.info, entry).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(good));
}

#[test]
fn opening_an_impossible_configuration_names_it() {
    let bad = MatmulConfig { policy: KernelPolicy::Tiled, tile_k: 12 };
    let err = Engine::open_with_config(&AdapterChoice::default(), bad).err().expect("TILE_K 12 is refused");
    assert!(err.to_string().contains("TILE_K"), "{err}");
}
