//! The training session a browser steps (`train::session`), run natively on this machine's
//! adapter: it trains, repeats itself exactly, agrees with other kernels within the tolerance
//! the browser test uses and is far from another seed's run. It leaves its record of
//! `Settings::small_test` in target/tmp/web-reference.json: the native half of the browser
//! test (web/tests/browser/training.rs, run by scripts/web-test.sh).

use adclr_wgpu::train::session::{KernelSet, Settings, Trainer};
use adclr_wgpu::train::session_record::{self as record, compare, largest_difference, Record, Tolerance};

fn run(settings: Settings) -> Record {
    pollster::block_on(record::run(settings, &mut |_, _| {})).unwrap_or_else(|e| panic!("the session failed: {e}"))
}

#[test]
fn small_test_trains_repeats_and_leaves_the_browser_reference() {
    let want = run(Settings::small_test());
    assert_eq!(want.steps.len(), 2);
    for s in &want.steps {
        assert!(s.loss.is_finite() && s.global_loss > 0.0 && s.query_loss > 0.0, "{s:?}");
    }
    assert!(want.checksum.update_l2 > 0.0 && want.checksum.grad_l2 > 0.0, "{:?}", want.checksum);
    // Seeded data and augmentation, the same kernels: the same numbers to the bit.
    let again = run(Settings::small_test());
    assert_eq!(compare(&want, &again, Tolerance { atol: 0.0, rtol: 0.0 }), Ok(()));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-reference.json");
    let json = serde_json::to_string_pretty(&want).expect("a record serialises");
    std::fs::write(&path, json + "\n").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("{}: {:.2} steps/s; record in {}", want.adapter, want.steps_per_second, path.display());
}

/// The browser's tolerance holds between two kernel sets of this driver that sum in other
/// orders (the adapter's own rule under its own limits: subgroup kernels on lavapipe) and
/// rejects the same settings under another seed.
#[test]
fn the_browser_tolerance_separates_reduction_order_from_another_run() {
    let small = Settings::small_test();
    let want = run(small.clone());
    let mut other_kernels = small.clone();
    other_kernels.kernels = KernelSet::Rule;
    other_kernels.train.limits = Some("adapter".into());
    let mut got = run(other_kernels);
    eprintln!("kernels: {} against {}", got.adapter, want.adapter);
    got.settings = small.clone();
    eprintln!("largest: {}", largest_difference(&want, &got));
    if let Err(diff) = compare(&want, &got, Tolerance::ACROSS_DRIVERS) {
        panic!("other kernels of the same step differ beyond the browser's tolerance:\n{diff}");
    }
    let mut other_seed = small.clone();
    other_seed.train.seed += 1;
    let mut got = run(other_seed);
    got.settings = small;
    let diff = compare(&want, &got, Tolerance::ACROSS_DRIVERS).expect_err("another seed's run passed");
    assert!(diff.contains("parameter sum") && diff.contains("step 1 loss"), "{diff}");
}

#[test]
fn bad_settings_are_named_before_any_device_opens() {
    let open = |s: Settings| pollster::block_on(Trainer::open(s)).err().map(|e| e.to_string()).unwrap_or_default();
    let msg = open(Settings { steps: 0, ..Settings::small_test() });
    assert!(msg.contains("steps must be at least 1"), "{msg}");
    let mut files = Settings::small_test();
    files.train.data = "fashion-mnist".into();
    let msg = open(files);
    assert!(msg.contains("`fashion-mnist`") && msg.contains("embedded"), "{msg}");
    let msg = Settings::from_json(r#"{"steps": 3, "learning_rate": 1}"#).unwrap_err().to_string();
    assert!(msg.contains("learning_rate"), "{msg}");
}

/// The session (`KernelSet::Rule`) makes the choice `train` makes for the same settings on a
/// machine without kernel variables or a tuning file (`KernelChoice::decide`, which
/// `train`'s `EngineRequest::native` calls with the run's precision), and the settings' precision reaches it.
#[test]
fn the_session_chooses_as_train_does_and_honours_precision() {
    use adclr_wgpu::gpu::{context::GpuContext, KernelChoice, Overrides, Precision};
    let kernel_variables = ["ADCLR_MATMUL", "ADCLR_ROWS", "ADCLR_ATTENTION", "ADCLR_PRECISION"];
    let set: Vec<&str> = kernel_variables.iter().copied().filter(|v| std::env::var_os(v).is_some()).collect();
    assert!(set.is_empty(), "unset {set:?}: this test compares the choices without them");
    let mut settings = Settings::small_test();
    settings.kernels = KernelSet::Rule;
    for precision in [None, Some("f32"), Some("f16-mixed")] {
        settings.train.precision = precision.map(String::from);
        let asked = settings.train.precision().unwrap();
        let ctx = GpuContext::open(&settings.adapter_choice()).unwrap();
        let by_train = KernelChoice::decide(&ctx, None, asked, &Overrides::default());
        match (pollster::block_on(Trainer::open(settings.clone())), by_train) {
            (Ok(t), Ok((want, _))) => {
                assert_eq!(t.engine.choice, want, "precision {precision:?}");
                assert_eq!(t.engine.choice.precision, asked.unwrap_or(Precision::F32));
            }
            // A device without f16: both refuse, naming it.
            (Err(e), Err(want)) => {
                assert_eq!(precision, Some("f16-mixed"));
                assert!(e.to_string().contains("--precision f16-mixed needs"), "{e}");
                assert_eq!(e.to_string(), format!("{want}"));
            }
            (got, want) => panic!("precision {precision:?}: the session {:?}, train {want:?}", got.err()),
        }
    }
    settings.kernels = KernelSet::Portable;
    let msg = pollster::block_on(Trainer::open(settings)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("the portable kernels are f32"), "{msg}");
}
