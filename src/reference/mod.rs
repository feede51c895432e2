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
