//! Kernel throughput (criterion): square matmuls, a ViT-S shaped qkv projection and the fused
//! ADCLR attention forward + backward. Throughput is reported in FLOP/s ("elem/s" = FLOP/s).
//! On lavapipe keep it short: `cargo bench --bench kernels -- --quick`;
//! `ADCLR_BENCH_MAX=1024` skips the larger squares.

use adclr_wgpu::gpu::{AdapterChoice, Dispatch, Engine, EngineRequest};
use adclr_wgpu::perf::bench::{attention_case, matmul_case, time_case, vit_s_attention, Case};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn run_case(c: &mut Criterion, e: &Engine, case: &Case) {
    let mut group = c.benchmark_group("kernels");
    group.sample_size(10);
    group.throughput(Throughput::Elements(case.flops as u64));
    let refs: Vec<&Dispatch> = case.dispatches.iter().collect();
    group.bench_function(&case.name, |b| b.iter(|| e.run(&refs).expect("GPU run")));
    group.finish();
    if let Ok(secs) = time_case(e, case, 3) {
        println!("{}: {:.2} GFLOP/s on {}", case.name, case.flops / secs / 1e9, e.ctx.describe());
    }
}

fn kernels(c: &mut Criterion) {
    let e = Engine::open(&EngineRequest::native(
        AdapterChoice::default(),
        None,
        &adclr_wgpu::cli::environment::native_defaults().unwrap(),
    ))
    .expect("a GPU adapter (or lavapipe)");
    let max: usize = std::env::var("ADCLR_BENCH_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let mut cases = Vec::new();
    for side in [256, 1024, 2048] {
        if side <= max {
            cases.push(matmul_case(&e, 1, side, side, side, false).expect("matmul case"));
        }
    }
    let vit_batch: usize = std::env::var("ADCLR_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    cases.push(matmul_case(&e, vit_batch, 197, 1152, 384, true).expect("qkv case"));
    cases.push(attention_case(&e, vit_s_attention(vit_batch)).expect("attention case"));
    for case in &cases {
        run_case(c, &e, case);
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
