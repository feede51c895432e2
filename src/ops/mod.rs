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
pub mod loss_scale;
pub mod matmul;
pub mod matmul_variant;
pub mod optim;
pub mod reduce;
pub mod residual;
pub mod rows;
pub mod softmax;
pub mod tokens;
pub mod weight_norm;

use crate::error::{shape_error, Result};
use crate::gpu::params::ParamsLayout;
use crate::gpu::GpuTensor;

/// Every parameter block the launchers upload; tests/shaders_validate.rs compares each with
/// the `Params` of its shader files (and `Dispatch::new` refuses a block of another file).
pub fn parameter_blocks() -> Vec<ParamsLayout> {
    vec![
        ParamsLayout::of::<attention::AttentionParams>(),
        ParamsLayout::of::<dino::DinoLossParams>(),
        ParamsLayout::of::<dino::DinoCenterParams>(),
        ParamsLayout::of::<elementwise::ElementwiseParams>(),
        ParamsLayout::of::<gelu::GeluForwardParams>(),
        ParamsLayout::of::<gelu::GeluBackwardParams>(),
        ParamsLayout::of::<health::HealthParams>(),
        ParamsLayout::of::<loss_scale::LossScaleParams>(),
        ParamsLayout::of::<l2norm::L2NormForwardParams>(),
        ParamsLayout::of::<l2norm::L2NormBackwardParams>(),
        ParamsLayout::of::<layernorm::LayerNormForwardParams>(),
        ParamsLayout::of::<layernorm::LayerNormBackwardParams>(),
        ParamsLayout::of::<matmul::MatmulParams>(),
        ParamsLayout::of::<optim::GradClipParams>(),
        ParamsLayout::of::<optim::AdamWParams>(),
        ParamsLayout::of::<optim::EmaParams>(),
        ParamsLayout::of::<reduce::ReduceParams>(),
        ParamsLayout::of::<residual::ResidualParams>(),
        ParamsLayout::of::<residual::ResidualLayerNormParams>(),
        ParamsLayout::of::<rows::RowsParams>(),
        ParamsLayout::of::<softmax::SoftmaxParams>(),
        ParamsLayout::of::<tokens::TokensParams>(),
        ParamsLayout::of::<weight_norm::WeightNormParams>(),
    ]
}

/// The WGSL constants the launchers rely on (flag bits, modes, rows per workgroup), as
/// (shader file, constant, value); tests/shaders_validate.rs checks each against the WGSL.
pub fn shader_constants() -> Vec<(&'static str, &'static str, u32)> {
    [matmul::SHADER_CONSTANTS, attention::SHADER_CONSTANTS, residual::SHADER_CONSTANTS, &[health::SKIP_ONLY_SHADER]]
        .concat()
}

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
