//! GPU kernels against the CPU reference, forward and backward, on lavapipe in CI.
//! Shapes are deliberately not tile multiples and include size-1 dimensions.

#[path = "../cases/mod.rs"]
mod cases;
#[path = "../common/mod.rs"]
mod common;

mod attention;
mod browser;
mod checker;
mod dino;
mod elementwise;
mod errors;
mod gelu;
mod health;
mod l2norm;
mod layernorm;
mod linear;
mod loss_scale;
mod matmul;
mod optim;
mod reduce;
mod residual;
mod rows;
mod runtime;
mod softmax;
mod tokens;
mod tune;
mod weight_norm;
