//! Dynamic loss scaling (`shaders/loss_scale.wgsl`, `ops::loss_scale`, `reference::loss_scale`):
//! the scale multiplies the loss gradient; a skip-only health check that sees a non-finite
//! value skips the step, which halves the scale and counts a skip for every tensor that
//! would have moved; clean steps in a row grow it; a stopped run changes nothing.

use crate::common::*;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::health::{Health, SKIP_ONLY};
use adclr_wgpu::ops::loss_scale::{LossScale, LossScaleRule, LossScaler};

/// A segment table of three tensors, the middle one frozen (lr scale 0).
fn segment_table() -> Vec<u32> {
    let mut t = Vec::new();
    for (i, lr_scale) in [1.0f32, 0.0, 1.0].into_iter().enumerate() {
        t.extend_from_slice(&[i as u32 * 8, 8, i as u32, 1, 1, lr_scale.to_bits(), 0, 0]);
    }
    t
}

#[test]
fn scaler_skips_halves_and_grows_as_the_reference() {
    let e = engine();
    let health = Health::new(e).unwrap();
    let rule = LossScaleRule { init: 8.0, growth_interval: 3, growth: 2.0, backoff: 0.5 };
    let scale = LossScale::new(e, rule).unwrap();
    let segments = GpuTensor::from_u32(&e.ctx, "segments", &[3, 8], &segment_table()).unwrap();
    let skipped = GpuTensor::from_u32(&e.ctx, "skipped", &[3], &[0; 3]).unwrap();
    // 300 loss-gradient values: more than one workgroup of the apply kernel.
    let loss_grad: Vec<f64> = (0..300).map(|i| i as f64 * 0.25 - 30.0).collect();
    let values = upload("loss gradient", &loss_grad);
    let grads = zeros("gradient norms", 5);
    let apply = scale.apply(e, &values, &health.flag).unwrap();
    let check = health.check(e, &grads, 7 | SKIP_ONLY).unwrap();
    let count = scale.count_skips(e, &segments, &skipped, &health.flag).unwrap();
    let update = scale.update(e, &health.flag).unwrap();
    let mut want = LossScaler::new(&rule);
    let mut want_skipped = [0u32; 3];
    // Clean runs of 3 (grow), broken by overflows (halve), an overflow at the very end.
    let overflows = [false, false, false, true, false, true, true, false, false, false, false, true];
    for (step, &overflow) in overflows.iter().enumerate() {
        let norms = if overflow { [1.0, f64::INFINITY, 2.0, f64::NAN, 0.5] } else { [1.0, 3.0, 2.0, 0.0, 0.5] };
        grads.write_f32(&e.ctx, &norms.map(|x| x as f32)).unwrap();
        values.write_f32(&e.ctx, &loss_grad.iter().map(|&x| x as f32).collect::<Vec<_>>()).unwrap();
        e.run(&[&apply, &check]).unwrap();
        // The loss gradient carries this step's scale; a skip is pending until the update.
        let scaled: Vec<f64> = loss_grad.iter().map(|&x| x * want.scale as f64).collect();
        assert_close(&format!("scaled loss gradient, step {step}"), &download(&values), &scaled, 0.0, 0.0);
        let flag = health.flag.read_u32(&e.ctx).unwrap();
        assert_eq!(flag, [1, 0, 0, overflow as u32], "a skip-only check never stops training (step {step})");
        e.run(&[&count, &update]).unwrap();
        want.update(&rule, overflow);
        if overflow {
            want_skipped[0] += 1;
            want_skipped[2] += 1;
        }
        assert_eq!(scale.read(e).unwrap(), want, "scaler after step {step}");
        assert_eq!(skipped.read_u32(&e.ctx).unwrap(), want_skipped, "skips after step {step}: not the frozen one");
        assert_eq!(health.flag.read_u32(&e.ctx).unwrap(), [1, 0, 0, 0], "the update clears the skip (step {step})");
    }
    assert_eq!((want.scale, want.skipped), (2.0, 4), "the sequence grew and halved: 8, 16, 8, 4, 2, 4, 2");
    // A stopped run (the sticky flag off) leaves the scaler and the skip counts alone.
    let nan_loss = upload("loss", &[f64::NAN]);
    let stop = health.check(e, &nan_loss, 1).unwrap();
    grads.write_f32(&e.ctx, &[f32::INFINITY; 5]).unwrap();
    e.run(&[&stop, &check, &count, &update]).unwrap();
    assert_eq!(health.flag.read_u32(&e.ctx).unwrap()[0], 0);
    assert_eq!(scale.read(e).unwrap(), want);
    assert_eq!(skipped.read_u32(&e.ctx).unwrap(), want_skipped);
}

#[test]
fn growth_that_would_overflow_f32_keeps_the_scale() {
    let e = engine();
    let health = Health::new(e).unwrap();
    let rule = LossScaleRule { init: f32::MAX / 1.5, growth_interval: 1, growth: 2.0, backoff: 0.5 };
    let scale = LossScale::new(e, rule).unwrap();
    e.run(&[&scale.update(e, &health.flag).unwrap()]).unwrap();
    let mut want = LossScaler::new(&rule);
    want.update(&rule, false);
    assert_eq!(want.scale, rule.init, "the reference keeps it");
    assert_eq!(scale.read(e).unwrap(), want);
}

#[test]
fn impossible_rules_are_refused_by_name() {
    let e = engine();
    for bad in [
        LossScaleRule { init: 0.0, ..LossScaleRule::DEFAULT },
        LossScaleRule { init: f32::INFINITY, ..LossScaleRule::DEFAULT },
        LossScaleRule { growth: 0.5, ..LossScaleRule::DEFAULT },
        LossScaleRule { backoff: 2.0, ..LossScaleRule::DEFAULT },
    ] {
        let err = LossScale::new(e, bad).err().expect("refused").to_string();
        assert!(err.contains("loss_scale") && err.contains("impossible rule"), "{err}");
    }
}
