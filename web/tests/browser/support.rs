//! One engine per kernel choice for the whole test run (opened once: a browser compiles every
//! pipeline again for each), tensors in and out, seeded data and the reference checker.

use adclr_wgpu::gpu::{
    AdapterChoice, AttentionKernel, Engine, EngineRequest, GpuTensor, KernelChoice, MatmulKernel, RowKernels,
};
use adclr_wgpu::reference::check_close;
use adclr_wgpu::rng::Rng;
use std::cell::RefCell;
use std::rc::Rc;

/// The engines a browser runs: the portable kernels under WebGPU's default limits (what the
/// page runs on a CPU adapter; the training test shares this device) and the GPU variants where
/// subgroups are missing, as in every browser under wgpu 30 (128 x 128 tiles, a workgroup per
/// row, tiled attention), under the adapter's own limits, where every optional shader file
/// that fits its storage buffers compiles.
pub const BROWSER_ENGINES: [(KernelChoice, &str); 2] = [
    (KernelChoice::PORTABLE, "minimal"),
    (KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Tiled), "adapter"),
];

type Opened = (KernelChoice, &'static str, Rc<Engine>);

thread_local! {
    static ENGINES: RefCell<Vec<Opened>> = const { RefCell::new(Vec::new()) };
}

/// The engine of `choice` under `limits` on the browser's adapter, opened once.
pub async fn engine_with(choice: KernelChoice, limits: &'static str) -> Rc<Engine> {
    let found = |v: &Vec<Opened>| v.iter().find(|(c, l, _)| *c == choice && *l == limits).map(|(_, _, e)| e.clone());
    if let Some(e) = ENGINES.with_borrow(found) {
        return e;
    }
    let named = adclr_wgpu::gpu::context::DeviceLimits::parse(limits).unwrap_or_else(|e| panic!("limits {e}"));
    let adapter = AdapterChoice { limits: Some(named), ..AdapterChoice::default() };
    let e = Engine::open_async(&EngineRequest::exact(adapter.clone(), choice))
        .await
        .unwrap_or_else(|err| panic!("opening WebGPU with {choice:?} under {limits} limits: {err}"));
    let e = Rc::new(e);
    ENGINES.with_borrow_mut(|v| v.push((choice, limits, e.clone())));
    e
}

/// Both browser engines.
pub async fn engines() -> Vec<Rc<Engine>> {
    let mut out = Vec::new();
    for (choice, limits) in BROWSER_ENGINES {
        out.push(engine_with(choice, limits).await);
    }
    out
}

/// The portable engine under WebGPU's default limits (families with one variant, training).
pub async fn engine() -> Rc<Engine> {
    let (choice, limits) = BROWSER_ENGINES[0];
    engine_with(choice, limits).await
}

pub fn upload(e: &Engine, name: &str, x: &[f64]) -> GpuTensor {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    GpuTensor::from_f32(&e.ctx, name, &[x.len()], &data).expect("upload")
}

pub fn zeros(e: &Engine, name: &str, n: usize) -> GpuTensor {
    GpuTensor::zeros(&e.ctx, name, &[n]).expect("alloc")
}

/// A tensor's values, read back through the map the browser completes in its event loop.
pub async fn download(e: &Engine, t: &GpuTensor) -> Vec<f64> {
    t.read_f32_async(&e.ctx).await.expect("readback").iter().map(|&v| v as f64).collect()
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
