//! Two training steps of `Settings::small_test` in the browser against the native run of the
//! same settings on this machine (its record, left by the native test tests/session.rs and
//! built in through ADCLR_WEB_REFERENCE by build.rs: scripts/web-test.sh makes both in one run).

use crate::support::engine;
use adclr_wgpu::train::session::{Settings, Trainer};
use adclr_wgpu::train::session_record::{self as record, largest_difference, Record, Tolerance};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

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
    let mut trainer = Trainer::open_on(engine().await, want.settings.clone()).await.expect("opening the session");
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
