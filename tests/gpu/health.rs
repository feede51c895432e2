//! The training-health flag (`shaders/health.wgsl`, `ops::health`, `reference::health`):
//! finite values leave it on, the first NaN or infinity turns it off with its code and step,
//! and later checks leave that first failure alone.

use crate::common::*;
use adclr_wgpu::ops::health::{Health, HealthState};
use adclr_wgpu::reference;

#[test]
fn health_flag_matches_reference() {
    let e = engine();
    let health = Health::new(e).unwrap();
    let big = f32::MAX as f64;
    // 300 values: more than the kernel's 256 invocations, so each one reads several.
    let finite: Vec<f64> = (0..300).map(|i| [big, -big, 0.0, 1e-45, -3.5][i % 5]).collect();
    let mut with_nan = finite.clone();
    with_nan[299] = f64::NAN;
    let mut with_inf = finite.clone();
    with_inf[3] = f64::NEG_INFINITY;
    let mut want = [1, 0, 0, 0];
    for (values, code, step) in [(&finite, 1, 4), (&with_nan, 2, 5), (&with_inf, 3, 6), (&finite, 4, 7)] {
        let t = upload(&format!("values (code {code})"), values);
        let check = health.check(e, &t, code).unwrap();
        Health::set_step(e, &check, values.len(), code, step as u64).unwrap();
        e.run(&[&check]).unwrap();
        want = reference::health::check(want, values, code, step);
        assert_eq!(health.flag.read_u32(&e.ctx).unwrap(), want, "after the check with code {code}");
    }
    assert_eq!(want, [0, 2, 5, 0], "the NaN check is the first failure");
    assert_eq!(health.read(e).unwrap(), HealthState::Failed { code: 2, step: 5 });
    health.reset(e).unwrap();
    assert_eq!(health.read(e).unwrap(), HealthState::Ok);
}
