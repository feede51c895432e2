//! The training session a browser steps (`train::session`), run natively on this machine's
//! adapter: it trains, repeats itself exactly, agrees with other kernels within the tolerance
//! the browser test uses and is far from another seed's run. It leaves its record of
//! `Settings::small_test` in target/tmp/web-reference.json: the native half of the browser
//! test (web/tests/browser/training.rs, run by scripts/web-test.sh). It also trains on images
//! handed over in memory, as the page does with a visitor's folder.

use adclr_wgpu::train::session::{KernelSet, Settings, Trainer};
use adclr_wgpu::train::session_record::{self as record, compare, largest_difference, Record, Tolerance};

#[path = "fixtures/striped_images.rs"]
mod fixtures;
use fixtures::striped_images;

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
    other_kernels.train.limits = Some(adclr_wgpu::gpu::context::DeviceLimits::Adapter);
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
        let asked = precision.map(|p| <Precision as adclr_wgpu::gpu::choice::Family>::parse(p).unwrap());
        settings.train.precision = asked;
        let ctx = GpuContext::open(&settings.adapter_choice()).unwrap();
        let by_train = KernelChoice::decide(&ctx, None, asked, &Overrides::default());
        match (pollster::block_on(Trainer::open(settings.clone())), by_train) {
            (Ok(mut t), Ok((want, _))) => {
                assert_eq!(t.engine.choice, want, "precision {precision:?}");
                assert_eq!(t.engine.choice.precision, asked.unwrap_or(Precision::F32));
                // A step reports the loss scale as `train`'s metrics do: under f16-mixed only.
                let log = pollster::block_on(t.next_step()).unwrap();
                let f16 = asked == Some(Precision::F16Mixed);
                assert_eq!((log.loss_scale.is_some(), log.skipped_steps.is_some()), (f16, f16), "{log:?}");
                assert!(log.loss_scale.is_none_or(|s| s > 1.0), "{log:?}");
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

/// `train` and the session take the same turns (`train::turn`): on the same settings and
/// kernels, every step's loss terms and learning rate agree, and k-NN during the run (teacher
/// and floor) is measured on the same steps with the same figures.
#[test]
fn the_session_and_train_take_the_same_steps() {
    use adclr_wgpu::gpu::NativeDefaults;
    use adclr_wgpu::train::run::{train, Verbosity, METRICS};
    let mut settings = Settings::small_test();
    settings.kernels = KernelSet::Rule;
    (settings.steps, settings.knn_every, settings.knn_bank) = (4, 2, 100);
    let session = pollster::block_on(async {
        let mut trainer = Trainer::open(settings.clone()).await.unwrap();
        let mut steps = Vec::new();
        let mut knn = Vec::new();
        while trainer.done() < trainer.total_steps() {
            steps.push(trainer.next_step().await.unwrap());
            if trainer.cadence.due(trainer.done()).knn || trainer.done() == trainer.total_steps() {
                knn.push((trainer.done(), trainer.knn(settings.knn_bank).await.unwrap()));
            }
        }
        (steps, knn)
    });
    let out = std::env::temp_dir().join(format!("adclr-session-as-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut tc = settings.train.clone();
    tc.data = "embedded".into();
    tc.out = Some(out.display().to_string());
    (tc.max_steps, tc.log_every, tc.eval_every, tc.eval_bank) = (Some(settings.steps), 1, 2, settings.knn_bank);
    // The rule's kernels, as the session's `KernelSet::Rule`: no tuning file, no kernel variables.
    let done = train(tc, None, Verbosity::Quiet, None, &NativeDefaults::default()).unwrap();
    let text = std::fs::read_to_string(done.run_dir.join(METRICS)).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    let by_train: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("loss").is_some()).collect();
    assert_eq!(by_train.len(), session.0.len(), "{text}");
    for (t, s) in by_train.iter().zip(&session.0) {
        assert_eq!(t["step"].as_u64(), Some(s.step as u64));
        let got = [s.loss, s.global_loss, s.query_loss, s.lr];
        let want = ["loss", "global_loss", "query_loss", "lr"].map(|k| t[k].as_f64().unwrap());
        assert!(got.iter().zip(want).all(|(&g, w)| close(g, w)), "step {}: session {got:?}, train {want:?}", s.step);
    }
    let knn_by_train: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("knn_teacher_top1").is_some() && l["step"].as_u64() > Some(0)).collect();
    let steps_of =
        |v: &[&serde_json::Value]| v.iter().map(|l| l["step"].as_u64().unwrap() as usize).collect::<Vec<_>>();
    assert_eq!(steps_of(&knn_by_train), session.1.iter().map(|k| k.0).collect::<Vec<_>>(), "{text}");
    for (t, (step, s)) in knn_by_train.iter().zip(&session.1) {
        let want = [t["knn_teacher_top1"].as_f64().unwrap(), t["knn_floor_top1"].as_f64().unwrap()];
        assert!(
            close(s.teacher_top1, want[0]) && close(s.floor_top1, want[1]),
            "step {step}: session {s:?}, train {t}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The session trains on images handed over in memory (labelled: k-NN on the held-out fifth,
/// the attention over them, the feature map coloured by class) and refuses bad sets, naming
/// what is wrong, before any device opens.
#[test]
fn the_session_trains_on_images_in_memory_and_names_a_bad_set() {
    use adclr_wgpu::data::in_memory::{LabelledImages, PixelImages};
    use adclr_wgpu::train::session_data::{SessionImages, SessionSets, OWN_IMAGES};
    let mut settings = Settings::small_test();
    settings.train.data = OWN_IMAGES.into();
    let side = settings.image_size().unwrap();
    assert_eq!(side, 16);
    let (bytes, names) = striped_images(10, side);
    let set = LabelledImages::new(PixelImages::new(bytes.clone(), 20, side).unwrap(), Some(names)).unwrap();
    let mut trainer = pollster::block_on(Trainer::open_with(settings.clone(), SessionImages::Own(set)))
        .unwrap_or_else(|e| panic!("opening on the images: {e}"));
    let got = pollster::block_on(record::train(&mut trainer, &mut |_, _| {})).expect("training on the images");
    assert_eq!(got.steps.len(), 2);
    assert!(got.steps.iter().all(|s| s.loss.is_finite() && s.query_loss > 0.0), "{:?}", got.steps);
    assert!(got.checksum.update_l2 > 0.0, "{:?}", got.checksum);
    // 2 of each class's 10 held out: a bank of the other 16, 4 queries.
    let knn = pollster::block_on(trainer.knn(200)).expect("k-NN on the held-out images");
    assert_eq!((knn.bank, knn.queries), (16, 4));
    assert!((0.0..=100.0).contains(&knn.teacher_top1) && (0.0..=100.0).contains(&knn.floor_top1), "{knn:?}");
    let (width, heat, plain) = pollster::block_on(trainer.attention_tile(3, 32)).expect("attention over image 3");
    assert_eq!((width, heat.len(), plain.len()), (32, 32 * 32 * 3, 32 * 32 * 3));
    let msg = pollster::block_on(trainer.attention_tile(4, 32)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("attention_image 4: your images (held out) has 4 images"), "{msg}");
    let map = pollster::block_on(trainer.feature_map(0)).expect("the feature map");
    assert_eq!(map.points.len(), 20);
    assert_eq!(map.classes, ["across", "down"]);
    assert_eq!(map.labels.as_ref().map(|l| l.iter().filter(|&&c| c == 1).count()), Some(10));
    // 10 images a class: each image's 9 nearest in the map, as many as its class has others.
    assert!(map.knn_k == 9 && map.knn_in_map.is_some_and(|k| (0.0..=100.0).contains(&k)), "{map:?}");
    assert!(map.points.iter().all(|p| p.0.is_finite() && p.1.is_finite()) && map.explained[0] > 0.0, "{map:?}");

    // Refused before any device opens, each naming the problem.
    let open = |s: &Settings, images| {
        pollster::block_on(Trainer::open_with(s.clone(), images)).err().map(|e| e.to_string()).unwrap_or_default()
    };
    let three =
        |names| LabelledImages::new(PixelImages::new(bytes[..3 * side * side * 3].to_vec(), 3, side).unwrap(), names);
    let msg = open(&settings, SessionImages::Own(three(None).unwrap()));
    assert!(msg.contains("batch 4 exceeds the 3 training images of your images"), "{msg}");
    let msg = open(&Settings::small_test(), SessionImages::Own(three(None).unwrap()));
    assert!(msg.contains("data `embedded` with images handed over"), "{msg}");
    let msg = open(&settings, SessionImages::Embedded);
    assert!(msg.contains("data `images`") && msg.contains("none were"), "{msg}");
    let msg = PixelImages::new(bytes[..100].to_vec(), 20, side).unwrap_err();
    assert!(msg.contains("100 bytes for 20 images of 16 x 16 pixels"), "{msg}");
    let msg = PixelImages::new(Vec::new(), 0, side).unwrap_err();
    assert!(msg.starts_with("no images were given"), "{msg}");
    let unlabelled = SessionSets::of(OWN_IMAGES, SessionImages::Own(three(None).unwrap()), 2).unwrap();
    let cfg = settings.train.adclr().unwrap();
    let norm = adclr_wgpu::data::normalization::Normalization::IMAGENET;
    let msg = unlabelled.knn_monitor(10, &cfg.model, &norm).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("k-NN needs labels and the images came without"), "{msg}");
}

/// `adclr-wgpu session` runs the page's session natively: k-NN of the teacher against the
/// floor every `--knn-every` steps and at the end, as JSON lines and in the result file, the
/// floor measured once (the same at every point); a bad settings file is named.
#[test]
fn the_session_command_trains_natively_with_knn_during_the_run() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("session-command.json");
    let _ = std::fs::remove_file(&out);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["session", "--settings", "small-test", "--steps", "3", "--knn-every", "2", "--knn-bank", "60"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let knn = result["knn"].as_array().unwrap();
    let steps: Vec<u64> = knn.iter().map(|p| p["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [2, 3], "{result}");
    assert_eq!(knn[0]["floor_top1"], knn[1]["floor_top1"], "{result}");
    assert!(knn
        .iter()
        .all(|p| p["bank"] == 60 && p["teacher_top1"].as_f64().is_some_and(|t| (0.0..=100.0).contains(&t))));
    assert_eq!((result["steps"].as_u64(), result["settings"]["knn_every"].as_u64()), (Some(3), Some(2)), "{result}");
    // The k-NN lines come first on stdout, then the result.
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_adclr-wgpu"))
        .args(["session", "--settings", "no-such-settings.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("--settings no-such-settings.json"), "{stderr}");
}

/// The page's default run on a GPU is the run measured natively to beat the floor: every
/// setting of the measured file (`PAGE_MEASURED`) is `Settings::page()`'s.
#[test]
fn the_page_runs_the_settings_that_were_measured() {
    use adclr_wgpu::train::session::{PAGE_KNN_EVERY, PAGE_MEASURED, PAGE_STEPS};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE_MEASURED);
    let measured: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let page = Settings::page().unwrap();
    let ours = serde_json::to_value(&page).unwrap();
    for key in ["steps", "kernels", "knn_bank", "knn_every"] {
        assert_eq!(ours[key], measured[key], "{key}");
    }
    let keys = measured["train"].as_object().unwrap();
    assert!(keys.len() >= 20, "{measured}");
    for (key, value) in keys {
        assert_eq!(&ours["train"][key], value, "train.{key}");
    }
    assert_eq!((page.steps, page.knn_every), (PAGE_STEPS, PAGE_KNN_EVERY));
    // It resolves to a model (the recipe file parses and its sizes are valid).
    assert_eq!(page.train.adclr().unwrap().model.image_size, 32);
}
