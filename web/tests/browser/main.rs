//! The engine in a real browser (headless Chromium, WebGPU on SwiftShader, shaders compiled by
//! Tint): kernel families against the CPU reference (the cases tests/gpu also runs natively), every shader file through Tint, two
//! training steps against the native run of the same settings, and two on images handed over
//! in memory. Run by scripts/web-test.sh
//! (`wasm-bindgen-test-runner`); on other targets this binary is empty.
#![cfg(target_arch = "wasm32")]

#[path = "../../../tests/cases/mod.rs"]
mod cases;
mod kernels;
mod shaders;
mod support;
mod training;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
