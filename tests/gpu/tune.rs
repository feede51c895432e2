//! Kernel choice and tuning: the per-family candidates, the per-adapter cache, the environment
//! variables and choices a device cannot run.

use crate::common::*;
use adclr_wgpu::gpu::choice::{self, ChoiceSource, Family};
use adclr_wgpu::gpu::tune::{self, Measured, TunedEntry};
use adclr_wgpu::gpu::{
    AttentionKernel, Engine, EngineRequest, KernelChoice, MatmulKernel, Overrides, Precision, RowKernels,
};
use adclr_wgpu::ops::attention::{AttentionShape, QueryAttends};
use adclr_wgpu::perf::bench::{measure_candidates, TuneCases};

fn temp_cache(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("adclr-tune-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("nested").join("kernel-tuning.json")
}

fn entry(chosen: KernelChoice, version: &str) -> TunedEntry {
    TunedEntry { chosen, measured: Measured::default(), version: version.into() }
}

const BLOCKED: KernelChoice = KernelChoice::f32(MatmulKernel::Blocked, RowKernels::Invocation, AttentionKernel::PerRow);

#[test]
fn measure_times_every_candidate_of_each_family_and_picks_the_fastest() {
    let e = engine();
    let matmuls = MatmulKernel::candidates(&e.ctx);
    assert_eq!(matmuls.contains(&MatmulKernel::Subgroup), choice::eight_lane_subgroups(&e.ctx));
    assert!(matmuls.contains(&MatmulKernel::Tiles) && !matmuls.contains(&MatmulKernel::Strided), "{matmuls:?}");
    let attention = AttentionShape {
        batch: 1,
        tokens: 9,
        heads: 2,
        head_dim: 64,
        n_base: 7,
        query_attends: QueryAttends::ClsPatchesSelf,
        bidirectional: false,
    };
    let cases = TuneCases { linear: (5, 8, 12), attention };
    let (measured, best) = measure_candidates(&adapter(), cases, 1).unwrap();
    let names = |v: &[(String, f64)]| v.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
    let want = |c: Vec<&'static str>| c.into_iter().map(String::from).collect::<Vec<_>>();
    assert_eq!(names(&measured.matmul), want(matmuls.iter().map(|v| v.name()).collect()));
    assert_eq!(names(&measured.rows), want(RowKernels::candidates(&e.ctx).iter().map(|v| v.name()).collect()));
    assert_eq!(
        names(&measured.attention),
        want(AttentionKernel::candidates(&e.ctx).iter().map(|v| v.name()).collect())
    );
    for family in [&measured.matmul, &measured.rows, &measured.attention] {
        assert!(family.iter().all(|m| m.1.is_finite() && m.1 > 0.0), "{measured:?}");
    }
    let fastest = |v: &[(String, f64)]| v.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0.clone();
    assert_eq!(best.matmul.name(), fastest(&measured.matmul));
    assert_eq!(best.rows.name(), fastest(&measured.rows));
    assert_eq!(best.attention.name(), fastest(&measured.attention));
}

/// The check a candidate passes before `tune` times it (`perf::verify`) accepts the rule's
/// kernels here and refuses kernels that compute something else: the same products with
/// operands rounded to f16 (the f16-mixed kernels) differ from the f32 reference beyond its
/// tolerance, and the error names the product.
#[test]
fn the_check_before_timing_accepts_correct_kernels_and_refuses_others() {
    use adclr_wgpu::perf::verify;
    let e = engine();
    verify::matmul_matches(e).unwrap();
    verify::layernorm_matches(e).unwrap();
    verify::attention_matches(e).unwrap();
    if Precision::F16Mixed.missing_on(&e.ctx).is_some() {
        eprintln!("skipped the refusal: no f16 here");
        return;
    }
    let f16 = KernelChoice { precision: Precision::F16Mixed, ..e.choice };
    let rounded = Engine::open(&EngineRequest::exact(adapter(), f16)).unwrap();
    let err = verify::matmul_matches(&rounded).expect_err("f16 operands are not the f32 product").to_string();
    assert!(err.contains("matmul 1x37x29x53") || err.contains("matmul 2x36x44x20"), "{err}");
}

#[test]
fn cache_round_trip_keeps_one_entry_per_adapter() {
    let e = engine();
    let path = temp_cache("round-trip");
    assert_eq!(tune::load(&path, &e.ctx), None, "no file yet");
    let chosen = KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Tiled);
    let mut measured = entry(chosen, env!("CARGO_PKG_VERSION"));
    measured.measured.matmul = vec![("tiles".into(), 1.5)];
    tune::store(&path, &e.ctx.info, measured.clone()).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(chosen));
    // Another adapter's entry is kept beside this one.
    let mut other = e.ctx.info.clone();
    other.name = "some other GPU".into();
    tune::store(&path, &other, TunedEntry { chosen: BLOCKED, ..measured }).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(chosen));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("some other GPU") && text.contains(&e.ctx.info.name), "{text}");
}

#[test]
fn stale_or_corrupt_cache_entries_are_ignored() {
    let e = engine();
    let path = temp_cache("ignored");
    tune::store(&path, &e.ctx.info, entry(BLOCKED, "0.0.0-old")).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), None, "measured by another version");
    std::fs::write(&path, b"{ not json").unwrap();
    assert_eq!(tune::load(&path, &e.ctx), None, "corrupt file");
    // Tuning again replaces a corrupt file.
    tune::store(&path, &e.ctx.info, entry(BLOCKED, env!("CARGO_PKG_VERSION"))).unwrap();
    assert_eq!(tune::load(&path, &e.ctx), Some(BLOCKED));
}

/// Each family comes from its own place: the tuned choice where there is one, the rule
/// otherwise; a tuned choice this device cannot run is ignored. (The environment variables
/// are read by the same function; `tests/cli.rs` runs them in a child process.)
#[test]
fn decide_takes_each_family_from_the_tuned_choice_or_the_rule() {
    let e = engine();
    let (rule, sources) = KernelChoice::decide(&e.ctx, None, None, &Overrides::default()).unwrap();
    assert_eq!(rule, KernelChoice::rule(&e.ctx));
    assert_eq!(sources, choice::ChoiceSources::all(ChoiceSource::Default));
    // The precision is never taken from tuning: it changes the numbers, not just the speed.
    let tuned_sources =
        choice::ChoiceSources { precision: ChoiceSource::Default, ..choice::ChoiceSources::all(ChoiceSource::Tuned) };
    let (tuned, sources) = KernelChoice::decide(&e.ctx, Some(BLOCKED), None, &Overrides::default()).unwrap();
    assert_eq!((tuned, sources), (BLOCKED, tuned_sources));
    let f16 = KernelChoice { precision: Precision::F16Mixed, ..BLOCKED };
    let (tuned, sources) = KernelChoice::decide(&e.ctx, Some(f16), None, &Overrides::default()).unwrap();
    match f16.check(&e.ctx) {
        Ok(()) => assert_eq!((tuned, sources), (BLOCKED, tuned_sources)),
        // A device without f16 (`ADCLR_LIMITS=minimal`) cannot run that entry: the rule decides.
        Err(_) => assert_eq!((tuned, sources), (rule, choice::ChoiceSources::all(ChoiceSource::Default))),
    }
    if !choice::eight_lane_subgroups(&e.ctx) {
        let impossible = KernelChoice { matmul: MatmulKernel::Subgroup, ..BLOCKED };
        assert_eq!(KernelChoice::decide(&e.ctx, Some(impossible), None, &Overrides::default()).unwrap().0, rule);
    }
    assert!(e.kernel_summary().contains(e.choice.matmul.name()), "{}", e.kernel_summary());
}

#[test]
fn opening_a_choice_the_device_cannot_run_names_what_is_missing() {
    let e = engine();
    let subgroup_matmul = KernelChoice { matmul: MatmulKernel::Subgroup, ..BLOCKED };
    match (choice::eight_lane_subgroups(&e.ctx), Engine::open(&EngineRequest::exact(adapter(), subgroup_matmul))) {
        (true, opened) => assert!(opened.is_ok()),
        (false, Err(err)) => assert!(err.to_string().contains("8-lane subgroups"), "{err}"),
        (false, Ok(_)) => panic!("a subgroup matmul opened without 8-lane subgroups"),
    }
    // The cooperative-matrix matmul: only at f16-mixed, only where the adapter lists them.
    let coop = KernelChoice { matmul: MatmulKernel::Coop, ..BLOCKED };
    let err = Engine::open(&EngineRequest::exact(adapter(), coop)).err().expect("coop in f32 refused");
    assert!(err.to_string().contains("needs precision f16-mixed"), "{err}");
    if e.ctx.coop_sizes.is_empty() {
        let coop16 = KernelChoice { precision: adclr_wgpu::gpu::Precision::F16Mixed, ..coop };
        let err = Engine::open(&EngineRequest::exact(adapter(), coop16)).err().expect("no coop here");
        assert!(err.to_string().contains("cooperative matrices of 8x8x8 or 16x16x16"), "{err}");
    }
    // The cooperative-matrix attention likewise.
    let coop_attention = KernelChoice { attention: AttentionKernel::Coop, ..BLOCKED };
    let err = Engine::open(&EngineRequest::exact(adapter(), coop_attention)).err().expect("coop attention in f32");
    assert!(err.to_string().contains("the coop attention computes on f16 operands"), "{err}");
    if choice::coop_attention_size(&e.ctx).is_none() {
        let f16 = KernelChoice { precision: Precision::F16Mixed, ..coop_attention };
        let err = Engine::open(&EngineRequest::exact(adapter(), f16)).err().expect("no coop attention here");
        assert!(err.to_string().contains("the coop attention needs cooperative matrices of 8x8x8"), "{err}");
    }
    assert!(!AttentionKernel::candidates(&e.ctx).contains(&AttentionKernel::Coop), "tuning times f32 only");
    // What a family's messages list.
    assert_eq!(MatmulKernel::names(), "tiles, blocked, subgroup, strided or coop");
    assert_eq!(AttentionKernel::parse("per-row"), Some(AttentionKernel::PerRow));
    assert_eq!(RowKernels::parse("rows"), None);
}

/// `bench --kernels` gives each case its FLOPs and least memory traffic for a roofline: the
/// 256^3 matmul reads A and B and writes C once (3 x 256^2 f32), 2 x 256^3 FLOPs.
#[test]
fn kernel_bench_reports_flops_and_bytes_per_case() {
    let report =
        adclr_wgpu::perf::bench::kernel_bench(&EngineRequest::exact(adapter(), KernelChoice::PORTABLE), 1, 256)
            .unwrap();
    let results = report["results"].as_array().expect("results");
    assert!(results.len() >= 3, "{report}");
    for r in results {
        let (bytes, intensity) = (r["bytes"].as_f64().unwrap(), r["flops_per_byte"].as_f64().unwrap());
        assert!(bytes > 0.0 && intensity > 0.0 && r["gbytes_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    let mm = results.iter().find(|r| r["kernel"] == "matmul 1x256x256x256").expect("the 256^3 matmul");
    assert_eq!(mm["bytes"].as_f64(), Some(3.0 * 4.0 * 65536.0));
    assert!((mm["flops_per_byte"].as_f64().unwrap() - 2.0 * 256.0 / 12.0).abs() < 1e-9, "{mm}");
}
