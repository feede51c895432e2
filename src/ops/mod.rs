//! Launchers: one module per kernel family, each building `Dispatch`es (once) from tensors
//! and checking shapes. The semantics live in `crate::reference`, the math in `shaders/`.

pub mod attention;
pub mod dino;
pub mod elementwise;
pub mod gelu;
pub mod health;
pub mod l2norm;
pub mod layernorm;
pub mod linear;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod residual;
pub mod rows;
pub mod softmax;
pub mod tokens;
pub mod weight_norm;

use crate::error::{shape_error, Result};
use crate::gpu::GpuTensor;

/// Fails unless `t` holds exactly `n` elements.
pub(crate) fn expect_len(kernel: &'static str, t: &GpuTensor, n: usize) -> Result<()> {
    if t.len() != n {
        return Err(shape_error(
            kernel,
            format!("tensor `{}` {:?} has {} elements, expected {n}", t.name, t.shape, t.len()),
        ));
    }
    Ok(())
}
