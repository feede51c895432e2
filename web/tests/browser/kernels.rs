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

crate::cases::every_kernel_case!(in_the_browser);
