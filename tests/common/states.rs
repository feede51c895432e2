//! Comparing two training states (data parallelism, micro-batches: the same step summed in
//! another order) at a tolerance a wrong reduction cannot meet.

use adclr_wgpu::checkpoint::TrainingState;

/// The key third of every `attn.qkv.bias` zeroed: its gradient is zero but for rounding
/// (softmax is shift invariant), so Adam moves it by up to the learning rate per step in a
/// direction the rounding decides; any change of summation order (more ranks, another
/// driver) gives another walk. The query and value thirds are compared.
pub fn without_key_bias(name: &str, values: &[f32]) -> Vec<f32> {
    let mut v = values.to_vec();
    if name.ends_with("attn.qkv.bias") {
        let d = v.len() / 3;
        v[d..2 * d].fill(0.0);
    }
    v
}

/// The largest difference between two states relative to the tolerance, and where: every
/// tensor of student, teacher and both Adam moments, and the centres, each held to
/// `ABS + REL * max |a|` of that tensor.
pub fn worst_excess(a: &TrainingState, b: &TrainingState) -> (f64, String) {
    // A different summation order (4 + 4 rows instead of 8, then a sum of two: ranks or
    // micro-batches) changes
    // gradients by float rounding, about 1e-7 relative, and Adam divides by the gradients'
    // own size: measured up to 3e-7 absolute after 3 steps (the key bias aside). A wrong
    // reduction changes the moments by factors (no division: m x2, v x4) or the gradients
    // as a whole (no exchange): differences of 1e-2 and more, 3 orders above.
    const ABS: f64 = 1e-5;
    const REL: f64 = 1e-3;
    assert_eq!(a.step, b.step);
    assert_eq!(a.tensor_steps, b.tensor_steps);
    let mut worst = (0.0, String::new());
    let mut check = |name: String, x: &[f32], y: &[f32]| {
        assert_eq!(x.len(), y.len(), "{name}");
        let (x, y) = (without_key_bias(&name, x), without_key_bias(&name, y));
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
        let diff = x.iter().zip(&y).fold(0.0f64, |m, (p, q)| m.max((*p as f64 - *q as f64).abs()));
        let excess = diff / (ABS + REL * scale);
        if excess > worst.0 || !excess.is_finite() {
            worst = (excess, format!("{name}: max diff {diff:.3e}, max |value| {scale:.3e}"));
        }
    };
    for (set, x, y) in [
        ("student", &a.student, &b.student),
        ("teacher", &a.teacher, &b.teacher),
        ("exp_avg", &a.exp_avg, &b.exp_avg),
        ("exp_avg_sq", &a.exp_avg_sq, &b.exp_avg_sq),
    ] {
        for (k, v) in x {
            check(format!("{set}.{k}"), v, &y[k]);
        }
    }
    check("centre_cls".into(), &a.centre_cls, &b.centre_cls);
    check("centre_query".into(), &a.centre_query, &b.centre_query);
    worst
}
