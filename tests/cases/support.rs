//! What the shared cases need besides the library: the kernel choices a browser runs,
//! tensors in and out, seeded data and the reference checker.

use adclr_wgpu::gpu::{AttentionKernel, Dispatch, Engine, GpuTensor, KernelChoice, MatmulKernel, RowKernels};
use adclr_wgpu::reference::check_close;
use adclr_wgpu::rng::Rng;

/// The engines a browser runs: the portable kernels under WebGPU's default limits (what the
/// page runs on a CPU adapter; the browser's training test shares this device) and the GPU
/// variants where subgroups are missing, as in every browser under wgpu 30 (128 x 128 tiles, a
/// workgroup per row, tiled attention), under the adapter's own limits, where every optional
/// shader file that fits its storage buffers compiles. (`--limits` names.)
pub const BROWSER_ENGINES: [(KernelChoice, &str); 2] = [
    (KernelChoice::PORTABLE, "minimal"),
    (KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Tiled), "adapter"),
];

pub fn upload(e: &Engine, name: &str, x: &[f64]) -> GpuTensor {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    GpuTensor::from_f32(&e.ctx, name, &[x.len()], &data).expect("upload")
}

pub fn zeros(e: &Engine, name: &str, n: usize) -> GpuTensor {
    GpuTensor::zeros(&e.ctx, name, &[n]).expect("alloc")
}

/// A tensor's values, read back through the map a browser completes in its event loop (and a
/// native caller's `pollster` polls).
pub async fn download(e: &Engine, t: &GpuTensor) -> Vec<f64> {
    t.read_f32_async(&e.ctx).await.expect("readback").iter().map(|&v| v as f64).collect()
}

/// Runs `ds` in one submission.
pub fn run(e: &Engine, ds: &[Dispatch]) {
    e.run(&ds.iter().collect::<Vec<_>>()).expect("run");
}

pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    if let Err(msg) = check_close(what, got, want, atol, rtol) {
        panic!("{msg}");
    }
}

/// Seeded values uniform in [-scale, scale), rounded to f32 (what the GPU sees).
pub struct Data(Rng);

impl Data {
    pub fn new(seed: u64) -> Self {
        Self(Rng::new(seed))
    }

    pub fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.0.range(-scale, scale) as f32 as f64).collect()
    }
}
