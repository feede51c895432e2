//! Two training steps of `Settings::small_test` in the browser against the native run of the
//! same settings on this machine (its record, left by the native test tests/session.rs and
//! built in through ADCLR_WEB_REFERENCE by build.rs: scripts/web-test.sh makes both in one run),
//! and a run on images handed over in memory, as the page trains on a visitor's folder.

use crate::support::engine;
use adclr_wgpu::data::in_memory::{LabelledImages, PixelImages};
use adclr_wgpu::train::session::{Settings, Trainer};
use adclr_wgpu::train::session_data::{SessionImages, OWN_IMAGES};
use adclr_wgpu::train::session_record::{self as record, largest_difference, Record, Tolerance};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[path = "../../../tests/fixtures/striped_images.rs"]
mod fixtures;
use fixtures::striped_images;

const REFERENCE: &str = include_str!(concat!(env!("OUT_DIR"), "/reference.json"));

#[wasm_bindgen_test]
async fn two_steps_match_the_native_run() {
    assert!(
        !REFERENCE.is_empty(),
        "no native reference: build with ADCLR_WEB_REFERENCE=target/tmp/web-reference.json, which \
         `cargo test --test session` writes (scripts/web-test.sh does both)"
    );
    let want: Record = serde_json::from_str(REFERENCE).expect("the reference is a record");
    assert_eq!(want.settings, Settings::small_test(), "the reference ran other settings: rebuild it");
    // On the kernel tests' portable device (the same kernels and limits): one device less to open.
    let mut trainer = Trainer::open_on(engine().await, want.settings.clone(), SessionImages::Embedded)
        .await
        .expect("opening the session");
    let got = record::train(&mut trainer, &mut |_, _| {}).await.expect("training in the browser");
    console_log!("largest difference from the native run: {}", largest_difference(&want, &got));
    console_log!(
        "browser: {} steps/s (first step {:.2} s) on {}; native: {} steps/s (first step {:.2} s) on {}",
        got.steps_per_second,
        got.first_step_seconds,
        got.adapter,
        want.steps_per_second,
        want.first_step_seconds,
        want.adapter
    );
    if let Err(diff) = record::compare(&want, &got, Tolerance::ACROSS_DRIVERS) {
        panic!("the browser's run differs from the native one:\n{diff}\nbrowser: {got:?}\nnative: {want:?}");
    }
    // The steps moved the parameters: a run that did nothing would match nothing above, but
    // say so plainly if the reference itself is degenerate.
    assert!(want.checksum.update_l2 > 0.0 && got.checksum.update_l2 > 0.0, "no update: {got:?}");
}

#[wasm_bindgen_test]
async fn two_steps_on_images_in_memory_then_knn_attention_and_the_map() {
    let mut settings = Settings::small_test();
    settings.train.data = OWN_IMAGES.into();
    let side = settings.image_size().expect("the image size");
    let (bytes, names) = striped_images(5, side);
    let pixels = PixelImages::new(bytes, 10, side).expect("10 images");
    let set = LabelledImages::new(pixels, Some(names)).expect("two classes");
    let images = SessionImages::Own(set);
    let mut trainer = Trainer::open_on(engine().await, settings, images).await.expect("opening on the images");
    let got = record::train(&mut trainer, &mut |_, _| {}).await.expect("training on the images");
    assert_eq!(got.steps.len(), 2);
    assert!(got.steps.iter().all(|s| s.loss.is_finite()) && got.checksum.update_l2 > 0.0, "{got:?}");
    // One of each class's 5 images held out: a bank of 8, 2 queries.
    let knn = trainer.knn(100).await.expect("k-NN on the held-out images");
    assert_eq!((knn.bank, knn.queries), (8, 2), "{knn:?}");
    let (width, heat, _) = trainer.attention_tile(1, 32).await.expect("attention over a held-out image");
    assert_eq!((width, heat.len()), (32, 32 * 32 * 3));
    let map = trainer.feature_map(0).await.expect("the feature map");
    assert_eq!((map.points.len(), map.classes.len()), (10, 2));
    assert!(map.points.iter().all(|p| p.0.is_finite() && p.1.is_finite()), "{map:?}");
    console_log!(
        "own images: k-NN {knn:?}; map explains {:?}, {}-NN in it {:?}",
        map.explained,
        map.knn_k,
        map.knn_in_map
    );
}
