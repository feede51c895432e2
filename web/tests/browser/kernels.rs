//! The shared kernel cases (tests/cases/kernels.rs) in the browser, on the browser's two
//! kernel choices; the same cases run natively in tests/gpu/browser.rs.

use crate::cases::kernels as case;
use crate::support::engines;
use wasm_bindgen_test::wasm_bindgen_test;

/// Runs one shared case on the browser's engines.
macro_rules! in_the_browser {
    ($($name:ident),* $(,)?) => {$(
        #[wasm_bindgen_test]
        async fn $name() {
            let opened = engines().await;
            let engines: Vec<&adclr_wgpu::gpu::Engine> = opened.iter().map(|e| e.as_ref()).collect();
            case::$name(&engines).await;
        }
    )*};
}

in_the_browser!(
    matmul_every_layout_forward_and_backward,
    attention_every_mask_mode_forward_and_backward,
    layernorm_and_residual_layernorm_forward_and_backward,
    softmax_gelu_l2norm_forward_and_backward,
    weight_norm_and_column_sums,
    tokens_rows_and_elementwise,
    dino_loss_gradient_and_centre,
    clipping_adamw_ema_and_the_health_flag,
);
