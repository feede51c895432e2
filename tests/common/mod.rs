//! Shared test helpers: one engine per test binary, deterministic random data, and the
//! |gpu - cpu| <= atol + rtol |cpu| checker.
#![allow(dead_code)]

pub mod states;

/// `train` flags of the small custom model the end-to-end tests run (16 px, patch 4, D 32,
/// depth 2, K 64, local crops of 8 px): fast enough for lavapipe.
#[rustfmt::skip]
pub const SMALL_MODEL_FLAGS: [&str; 18] = [
    "--image-size", "16", "--patch-size", "4", "--dim", "32", "--depth", "2", "--heads", "2",
    "--head-hidden", "64", "--head-bottleneck", "16", "--out-dim", "64", "--local-size", "8",
];

use adclr_wgpu::cli::environment::native_defaults;
use adclr_wgpu::gpu::{AdapterChoice, Engine, EngineRequest, GpuTensor};
use std::sync::OnceLock;

/// The adapter every test opens: the default one, with the environment's `WGPU_BACKEND` and
/// `ADCLR_LIMITS` applied as the command line applies them (`ADCLR_LIMITS=minimal cargo test`).
pub fn adapter() -> AdapterChoice {
    native_defaults().unwrap().adapter(AdapterChoice::default())
}

/// The engine every GPU test of this binary shares (lavapipe in CI).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::open(&EngineRequest::native(AdapterChoice::default(), None, &native_defaults().unwrap()))
            .unwrap_or_else(|e| panic!("GPU tests need an adapter (lavapipe: mesa-vulkan-drivers): {e}"))
    })
}

/// Engines with each kernel variant: (64 x 64 strided matmul, a workgroup per row,
/// shared-memory attention), (128 x 128 tiles, a workgroup per row, quad attention where subgroups
/// allow: the GPU rule), (register blocks, an invocation per row, per-row attention) and, where the adapter
/// has 8-lane subgroups (lavapipe does), (subgroup matmul, an invocation per row, subgroup
/// attention). Kernels with several variants are tested on each.
pub fn engines() -> Vec<&'static Engine> {
    use adclr_wgpu::gpu::{AttentionKernel as A, KernelChoice, MatmulKernel as M, RowKernels as R};
    static STRIDED: OnceLock<Engine> = OnceLock::new();
    static TILES: OnceLock<Engine> = OnceLock::new();
    static BLOCKED: OnceLock<Engine> = OnceLock::new();
    static SUBGROUP: OnceLock<Option<Engine>> = OnceLock::new();
    let open = |matmul, rows, attention| {
        Engine::open(&EngineRequest::exact(adapter(), KernelChoice::f32(matmul, rows, attention)))
    };
    let must = |matmul, rows, attention| {
        open(matmul, rows, attention).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
    };
    let mut out = vec![
        STRIDED.get_or_init(|| must(M::Strided, R::Workgroup, A::Tiled)),
        // Quad attention needs subgroups, which `ADCLR_LIMITS=minimal` turns off.
        TILES.get_or_init(|| {
            open(M::Tiles, R::Workgroup, A::Quad).unwrap_or_else(|_| must(M::Tiles, R::Workgroup, A::Tiled))
        }),
        BLOCKED.get_or_init(|| must(M::Blocked, R::Invocation, A::PerRow)),
    ];
    match SUBGROUP.get_or_init(|| open(M::Subgroup, R::Invocation, A::Subgroup).ok()) {
        Some(e) => out.push(e),
        None => eprintln!("note: this adapter has no 8-lane subgroups; the subgroup kernels are not tested"),
    }
    out
}

pub fn upload_on(e: &Engine, name: &str, x: &[f64]) -> GpuTensor {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    GpuTensor::from_f32(&e.ctx, name, &[x.len()], &data).expect("upload")
}

pub fn zeros_on(e: &Engine, name: &str, n: usize) -> GpuTensor {
    GpuTensor::zeros(&e.ctx, name, &[n]).expect("alloc")
}

pub fn download_on(e: &Engine, t: &GpuTensor) -> Vec<f64> {
    t.read_f32(&e.ctx).expect("readback").iter().map(|&v| v as f64).collect()
}

/// SplitMix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

/// f64 values rounded to f32, kept as f64 so the CPU sees exactly what the GPU sees.
pub fn f32_exact(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v as f32 as f64).collect()
}

pub fn upload(name: &str, x: &[f64]) -> GpuTensor {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    GpuTensor::from_f32(&engine().ctx, name, &[x.len()], &data).expect("upload")
}

pub fn zeros(name: &str, n: usize) -> GpuTensor {
    GpuTensor::zeros(&engine().ctx, name, &[n]).expect("alloc")
}

pub fn download(t: &GpuTensor) -> Vec<f64> {
    t.read_f32(&engine().ctx).expect("readback").iter().map(|&v| v as f64).collect()
}

/// Ok when every |got - want| <= atol + rtol |want| (and nothing is NaN); else the worst.
pub use adclr_wgpu::reference::check_close;

pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    if let Err(msg) = check_close(what, got, want, atol, rtol) {
        panic!("{msg}");
    }
}

/// The tiny test model: 16 px, patch 4, D 32, depth 2, 2 heads, K 64, head 64/32, local 8.
pub fn tiny_model() -> adclr_wgpu::model::config::ModelConfig {
    adclr_wgpu::model::config::ModelConfig {
        preset: "test".into(),
        image_size: 16,
        patch_size: 4,
        channels: 3,
        dim: 32,
        depth: 2,
        heads: 2,
        mlp_ratio: 4,
        out_dim: 64,
        head_hidden: 64,
        head_bottleneck: 32,
        local_size: 8,
        ln_eps: 1e-6,
    }
}
