//! The schedule shape DINO uses for every value that changes over a run (learning rate,
//! weight decay, teacher momentum) and the linear probe reuses.

/// Linear warm-up from `start` to `base` over `warmup` steps, then cosine to `end` at `total`.
pub fn cosine(base: f64, end: f64, step: usize, total: usize, warmup: usize, start: f64) -> f64 {
    if step < warmup {
        return start + (base - start) * step as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let t = ((step - warmup) as f64 / span as f64).min(1.0);
    end + 0.5 * (base - end) * (1.0 + (std::f64::consts::PI * t).cos())
}
