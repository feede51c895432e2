//! Every shader file the browser's device can run, through its compiler (Tint in Chromium,
//! which enforces WGSL's uniformity rules that naga does not check), and proof that such a
//! violation is caught here at all.

use crate::support::{engine, engines};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

/// Opening an engine compiles every shader file its device can run (a required file's
/// rejection fails the opening); the optional ones a compiler rejects are listed instead.
/// Under the adapter's limits that is every file but those needing f16 or subgroups.
#[wasm_bindgen_test]
async fn every_shader_file_compiles_in_the_browser() {
    for e in engines().await {
        let rejected: Vec<String> = e.kernels.rejected.iter().map(|(file, err)| format!("{file}: {err}")).collect();
        assert!(
            rejected.is_empty(),
            "the browser's compiler rejects {} shader files:\n{}",
            rejected.len(),
            rejected.join("\n")
        );
        console_log!(
            "every shader file usable on {} under {:?} limits compiled",
            e.ctx.describe(),
            e.ctx.limits_choice
        );
    }
}

/// A barrier under a branch on the invocation index: valid for naga, an error for Tint.
const NON_UNIFORM_BARRIER: &str = "
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
var<workgroup> tile: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32) {
    tile[i] = f32(i);
    if (i < 32u) {
        workgroupBarrier();
    }
    out[i] = tile[63u - i];
}
";

#[wasm_bindgen_test]
async fn a_barrier_in_non_uniform_control_flow_is_rejected() {
    let e = engine().await;
    let scope = e.ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let _module = e.ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("non-uniform barrier"),
        source: wgpu::ShaderSource::Wgsl(NON_UNIFORM_BARRIER.into()),
    });
    let err = scope.pop().await.map(|e| e.to_string());
    let msg =
        err.expect("the browser accepted a barrier in non-uniform control flow: this compiler checks no uniformity");
    assert!(msg.contains("uniform"), "rejected, but not for uniformity: {msg}");
}
