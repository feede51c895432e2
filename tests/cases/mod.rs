//! Kernel cases written once and run in two places: natively on lavapipe (`tests/gpu/browser.rs`,
//! blocking on each case) and in a real browser (`web/tests/browser/kernels.rs`, awaiting it),
//! on the same two kernel choices (`support::BROWSER_ENGINES`), so the browser has no list of
//! shapes of its own. Each case is an `async fn` over the engines, reading back through the
//! engine's async API (what a browser completes in its event loop).

pub mod kernels;
pub mod support;

/// Hands every case of `kernels` to `$wrap!`, each side's test wrapper: the one list of cases.
macro_rules! every_kernel_case {
    ($wrap:ident) => {
        $wrap!(
            matmul_every_layout_forward_and_backward,
            attention_every_mask_mode_forward_and_backward,
            layernorm_and_residual_layernorm_forward_and_backward,
            softmax_gelu_l2norm_forward_and_backward,
            weight_norm_and_column_sums,
            tokens_rows_and_elementwise,
            dino_loss_gradient_and_centre,
            clipping_adamw_ema_and_the_health_flag,
        );
    };
}
pub(crate) use every_kernel_case;
