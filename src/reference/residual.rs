//! Residual adds with per-sample (drop-path) scales (reference of shaders/residual.wgsl).

/// Residual with per-sample scaling: x + scale[sample] * branch.
pub fn add(x: &[f64], branch: &[f64], scale: &[f64], dim: usize, rows_per_sample: usize) -> Vec<f64> {
    let per = dim * rows_per_sample;
    x.iter().zip(branch).enumerate().map(|(i, (a, b))| a + scale[i / per] * b).collect()
}

/// dbranch of `add` (dx = dout).
pub fn branch_grad(dout: &[f64], scale: &[f64], dim: usize, rows_per_sample: usize) -> Vec<f64> {
    let per = dim * rows_per_sample;
    dout.iter().enumerate().map(|(i, g)| scale[i / per] * g).collect()
}
