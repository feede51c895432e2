//! One engine per kernel choice for the whole test run (opened once: a browser compiles every
//! pipeline again for each), tensors in and out, seeded data and the reference checker.

use adclr_wgpu::gpu::{AdapterChoice, AttentionKernel, Engine, GpuTensor, KernelChoice, MatmulKernel, RowKernels};
use adclr_wgpu::reference::check_close;
use adclr_wgpu::rng::Rng;
use adclr_wgpu::train::session::PORTABLE_KERNELS;
use std::cell::RefCell;
use std::rc::Rc;

/// The kernels a browser runs: the portable ones (the rule's on a CPU adapter, and every
/// kernel of the training test) and the GPU rule's where subgroups are missing, as they are
/// in every browser under wgpu 30 (128 x 128 tiles, a workgroup per row, tiled attention).
pub const BROWSER_CHOICES: [KernelChoice; 2] =
    [PORTABLE_KERNELS, KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Tiled)];

thread_local! {
    static ENGINES: RefCell<Vec<(KernelChoice, Rc<Engine>)>> = const { RefCell::new(Vec::new()) };
}

/// The engine of `choice` on the browser's adapter with its own limits.
pub async fn engine_with(choice: KernelChoice) -> Rc<Engine> {
    if let Some(e) = ENGINES.with_borrow(|v| v.iter().find(|(c, _)| *c == choice).map(|(_, e)| e.clone())) {
        return e;
    }
    let e = Engine::open_with_choice_async(&AdapterChoice::default(), choice)
        .await
        .unwrap_or_else(|err| panic!("opening WebGPU with {choice:?}: {err}"));
    let e = Rc::new(e);
    ENGINES.with_borrow_mut(|v| v.push((choice, e.clone())));
    e
}

/// Both browser choices' engines.
pub async fn engines() -> Vec<Rc<Engine>> {
    let mut out = Vec::new();
    for choice in BROWSER_CHOICES {
        out.push(engine_with(choice).await);
    }
    out
}

/// The portable engine (kernel families with one variant).
pub async fn engine() -> Rc<Engine> {
    engine_with(PORTABLE_KERNELS).await
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
