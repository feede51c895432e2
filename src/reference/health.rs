//! The training-health flag (the reference of shaders/health.wgsl): [ok, code, step, 0],
//! turned off by the first check that sees a NaN or an infinity and left alone after that.

/// The flag after checking `values` under `code` at `step`.
pub fn check(flag: [u32; 4], values: &[f64], code: u32, step: u32) -> [u32; 4] {
    let finite = values.iter().all(|v| (*v as f32).is_finite());
    if flag[0] == 1 && !finite {
        [0, code, step, 0]
    } else {
        flag
    }
}
