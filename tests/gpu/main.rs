//! GPU kernels against the CPU reference, forward and backward, on lavapipe in CI.
//! Shapes are deliberately not tile multiples and include size-1 dimensions.

#[path = "../common/mod.rs"]
mod common;

mod attention;
mod checker;
mod dino;
mod elementwise;
mod errors;
mod matmul;
mod norms;
mod optim;
mod runtime;
mod tokens;
mod tune;
