//! The CPU reference: every kernel's forward and backward in plain Rust, in f64.
//! This is the truth the WGSL kernels are tested against; its backward passes are
//! themselves checked by finite differences (tests/reference_gradcheck.rs).

pub mod attention;
pub mod dino;
pub mod elementwise;
pub mod gelu;
pub mod health;
pub mod l2norm;
pub mod layernorm;
pub mod linear;
pub mod loss_scale;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod residual;
pub mod rows;
pub mod softmax;
pub mod step;
pub mod tokens;
pub mod vit;
pub mod weight_norm;

/// f32 -> f64 copy.
pub fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// f64 -> f32 copy.
pub fn narrow(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// Ok when every |got - want| <= atol + rtol |want| and NaN only where the reference has one;
/// else the worst element, named: how every kernel test compares a GPU result with this
/// reference (natively and in a browser).
pub fn check_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, expected {}", got.len(), want.len()));
    }
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (atol + rtol * w.abs());
        if (excess > 0.0 || g.is_nan() != w.is_nan()) && worst.is_none_or(|(_, e)| excess > e || excess.is_nan()) {
            worst = Some((i, excess));
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{what}: element {i} is {} but the reference is {} (atol {atol}, rtol {rtol})",
            got[i], want[i]
        )),
    }
}
