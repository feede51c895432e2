//! Kernel benchmarks shared by `adclr-wgpu bench` and benches/ (criterion).

use crate::error::Result;
use crate::gpu::choice::{Family, KernelChoice};
use crate::gpu::tune;
use crate::gpu::{AdapterChoice, Dispatch, Engine, EngineRequest, GpuTensor};
use crate::ops::attention::{self, AttentionShape, QueryAttends};
use crate::ops::matmul::{self, MatmulShape};
use serde_json::json;
use std::time::Instant;

/// A benchmark case: its dispatches (with their tensors kept alive), FLOPs per run and the
/// least global-memory traffic of a run (every f32 operand read once, every output written
/// once by each dispatch), for a roofline against a card's peak FLOP/s and bandwidth.
pub struct Case {
    pub name: String,
    pub flops: f64,
    pub bytes: f64,
    pub dispatches: Vec<Dispatch>,
    _tensors: Vec<GpuTensor>,
}

/// Bytes of f32 tensors of these lengths.
fn f32_bytes(lens: &[usize]) -> f64 {
    4.0 * lens.iter().sum::<usize>() as f64
}

fn filled(e: &Engine, name: &str, shape: &[usize]) -> Result<GpuTensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5).collect();
    GpuTensor::from_f32(&e.ctx, name, shape, &data)
}

/// C = A B for a batch of m x k times k x n (weights broadcast when `broadcast_b`).
pub fn matmul_case(e: &Engine, batch: usize, m: usize, n: usize, k: usize, trans_b: bool) -> Result<Case> {
    let mut s = MatmulShape::new(batch, m, n, k);
    s.trans_b = trans_b;
    s.broadcast_b = batch > 1;
    let a = filled(e, "bench.a", &[s.a_len()])?;
    let b = filled(e, "bench.b", &[s.b_len()])?;
    let c = GpuTensor::zeros(&e.ctx, "bench.c", &[s.c_len()])?;
    let d = matmul::forward(e, &s, &a, &b, None, &c, 1.0, false)?;
    Ok(Case {
        name: format!("matmul {batch}x{m}x{n}x{k}"),
        flops: 2.0 * (batch * m * n * k) as f64,
        bytes: f32_bytes(&[s.a_len(), s.b_len(), s.c_len()]),
        dispatches: vec![d],
        _tensors: vec![a, b, c],
    })
}

/// The three matmuls of a linear layer y = x W^T with x [rows, d_in], W [d_out, d_in]:
/// forward, input gradient and weight gradient.
pub fn linear_layer_case(e: &Engine, rows: usize, d_in: usize, d_out: usize) -> Result<Case> {
    let mut s = MatmulShape::new(1, rows, d_out, d_in);
    s.trans_b = true;
    let x = filled(e, "bench.x", &[s.a_len()])?;
    let w = filled(e, "bench.w", &[s.b_len()])?;
    let y = GpuTensor::zeros(&e.ctx, "bench.y", &[s.c_len()])?;
    let dx = GpuTensor::zeros(&e.ctx, "bench.dx", &[s.a_len()])?;
    let dw = GpuTensor::zeros(&e.ctx, "bench.dw", &[s.b_len()])?;
    let mut dispatches = vec![matmul::forward(e, &s, &x, &w, None, &y, 1.0, false)?];
    dispatches.extend(matmul::backward(e, &s, &x, &w, &y, Some(&dx), Some(&dw), None, 1.0, false)?);
    Ok(Case {
        name: format!("linear layer {rows}x{d_in}->{d_out} fwd+bwd"),
        flops: 3.0 * 2.0 * (rows * d_in * d_out) as f64,
        // y = x W^T, dx = dy W, dW = dy^T x.
        bytes: f32_bytes(&[
            s.a_len(),
            s.b_len(),
            s.c_len(),
            s.c_len(),
            s.b_len(),
            s.a_len(),
            s.c_len(),
            s.a_len(),
            s.b_len(),
        ]),
        dispatches,
        _tensors: vec![x, w, y, dx, dw],
    })
}

/// The ViT-S qkv projection at batch 2: 2 x 197 tokens, 384 -> 1152 (what `tune` times).
pub const VIT_S_QKV_LAYER: (usize, usize, usize) = (394, 384, 1152);

/// What `tune` times each family on: the three matmuls of a linear layer (rows, d_in, d_out),
/// LayerNorm forward and backward over its input, the fused attention of `attention`.
#[derive(Clone, Copy, Debug)]
pub struct TuneCases {
    pub linear: (usize, usize, usize),
    pub attention: AttentionShape,
}

impl TuneCases {
    /// ViT-S at `rows` token rows (394: batch 2).
    pub fn vit_s(rows: usize) -> Self {
        let (_, d_in, d_out) = VIT_S_QKV_LAYER;
        Self { linear: (rows, d_in, d_out), attention: vit_s_attention(rows.div_ceil(197)) }
    }
}

/// LayerNorm forward and backward over `rows` rows of `d`.
pub fn layernorm_case(e: &Engine, rows: usize, d: usize) -> Result<Case> {
    let x = filled(e, "bench.x", &[rows * d])?;
    let dy = filled(e, "bench.dy", &[rows * d])?;
    let (w, b) = (filled(e, "bench.w", &[d])?, filled(e, "bench.b", &[d])?);
    let y = GpuTensor::zeros(&e.ctx, "bench.y", &[rows * d])?;
    let dx = GpuTensor::zeros(&e.ctx, "bench.dx", &[rows * d])?;
    let (dw, db) = (GpuTensor::zeros(&e.ctx, "bench.dw", &[d])?, GpuTensor::zeros(&e.ctx, "bench.db", &[d])?);
    let (mean, rstd) =
        (GpuTensor::zeros(&e.ctx, "bench.mean", &[rows])?, GpuTensor::zeros(&e.ctx, "bench.rstd", &[rows])?);
    let mut dispatches = vec![crate::ops::layernorm::forward(e, &x, &w, &b, &y, &mean, &rstd, 1e-6)?];
    dispatches.extend(crate::ops::layernorm::backward(e, &x, &w, &mean, &rstd, &dy, &dx, &dw, &db, false)?);
    Ok(Case {
        name: format!("layernorm {rows}x{d} fwd+bwd"),
        flops: 16.0 * (rows * d) as f64,
        // Forward: x, w, b -> y, mean, rstd; backward: x, w, mean, rstd, dy -> dx, dw, db.
        bytes: f32_bytes(&[rows * d, d, d, rows * d, rows, rows, rows * d, d, rows, rows, rows * d, rows * d, d, d]),
        dispatches,
        _tensors: vec![x, dy, w, b, y, dx, dw, db, mean, rstd],
    })
}

/// Median milliseconds of each of a family's candidates on this device, the others held at
/// `base`, timed on `case` after `matches` has checked its results against the CPU reference
/// (`perf::verify`); and the fastest. A candidate that fails here (results that differ from the
/// reference, a pipeline the driver rejects, a device error) is reported on stderr and left
/// out: it can never be chosen.
fn measure_family<F: Family>(
    adapter: &AdapterChoice,
    base: KernelChoice,
    with: impl Fn(KernelChoice, F) -> KernelChoice,
    (matches, case): (fn(&Engine) -> Result<()>, impl Fn(&Engine) -> Result<Case>),
    repeats: usize,
) -> Result<(Vec<(F, f64)>, F)> {
    let ctx = crate::gpu::GpuContext::open(adapter)?;
    let mut measured = Vec::new();
    for variant in F::candidates(&ctx) {
        let time = || -> Result<f64> {
            let e = Engine::open(&EngineRequest::exact(adapter.clone(), with(base, variant)))?;
            matches(&e)?;
            Ok(time_case(&e, &case(&e)?, repeats)? * 1e3)
        };
        match time() {
            Ok(ms) => measured.push((variant, ms)),
            Err(e) => eprintln!("warning: {} {} failed on {}: {e}", F::VARIABLE, variant.name(), ctx.describe()),
        }
    }
    let best =
        measured.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|m| m.0).ok_or_else(|| {
            crate::Error::Gpu(format!("every {} candidate failed on {}", F::VARIABLE, ctx.describe()))
        })?;
    Ok((measured, best))
}

fn named<F: Family>(measured: &[(F, f64)]) -> Vec<(String, f64)> {
    measured.iter().map(|&(v, ms)| (v.name().to_string(), ms)).collect()
}

/// Times every family's candidates (`Family::candidates`) on `cases`, each family with the
/// others at the built-in rule: the measurements by name and the fastest of each family.
pub fn measure_candidates(
    adapter: &AdapterChoice,
    cases: TuneCases,
    repeats: usize,
) -> Result<(tune::Measured, KernelChoice)> {
    let ctx = crate::gpu::GpuContext::open(adapter)?;
    let rule = KernelChoice::rule(&ctx);
    drop(ctx);
    let (rows, d_in, d_out) = cases.linear;
    let (matmul, best_matmul) = measure_family(
        adapter,
        rule,
        |c, matmul| KernelChoice { matmul, ..c },
        (super::verify::matmul_matches, |e| linear_layer_case(e, rows, d_in, d_out)),
        repeats,
    )?;
    let (row_kernels, best_rows) = measure_family(
        adapter,
        rule,
        |c, rows| KernelChoice { rows, ..c },
        (super::verify::layernorm_matches, |e| layernorm_case(e, rows, d_in)),
        repeats,
    )?;
    let (attention, best_attention) = measure_family(
        adapter,
        rule,
        |c, attention| KernelChoice { attention, ..c },
        (super::verify::attention_matches, |e| attention_case(e, cases.attention)),
        repeats,
    )?;
    let measured = tune::Measured { matmul: named(&matmul), rows: named(&row_kernels), attention: named(&attention) };
    Ok((measured, KernelChoice { matmul: best_matmul, rows: best_rows, attention: best_attention, ..rule }))
}

/// Forward + backward of the fused ADCLR attention.
pub fn attention_case(e: &Engine, s: AttentionShape) -> Result<Case> {
    let qkv = filled(e, "bench.qkv", &[s.qkv_len()])?;
    let out = GpuTensor::zeros(&e.ctx, "bench.out", &[s.out_len()])?;
    let lse = GpuTensor::zeros(&e.ctx, "bench.lse", &[s.lse_len()])?;
    let dout = filled(e, "bench.dout", &[s.out_len()])?;
    let dqkv = GpuTensor::zeros(&e.ctx, "bench.dqkv", &[s.qkv_len()])?;
    let mut dispatches = vec![attention::forward(e, &s, &qkv, &out, &lse)?];
    dispatches.extend(attention::backward(e, &s, &qkv, &out, &lse, &dout, &dqkv)?);
    Ok(Case {
        name: format!("attention fwd+bwd b{} t{} h{} d{}", s.batch, s.tokens, s.heads, s.head_dim),
        flops: attention_case_flops(&s),
        // Forward: qkv -> out, lse; backward: qkv, out, lse, dout -> dqkv.
        bytes: f32_bytes(&[
            s.qkv_len(),
            s.out_len(),
            s.lse_len(),
            s.qkv_len(),
            s.out_len(),
            s.lse_len(),
            s.out_len(),
            s.qkv_len(),
        ]),
        dispatches,
        _tensors: vec![qkv, out, lse, dout, dqkv],
    })
}

/// FLOPs of `attention_case`, unmasked: forward 2 matmuls, backward 5 (recompute, dP, dQ, dK, dV).
fn attention_case_flops(s: &AttentionShape) -> f64 {
    7.0 * 2.0 * (s.tokens * s.tokens * s.head_dim) as f64 * (s.batch * s.heads) as f64
}

/// Wall-clock seconds of one run of `case` (median of `repeats`, after a warm-up), each run
/// its own submit followed by a wait.
pub fn time_case(e: &Engine, case: &Case, repeats: usize) -> Result<f64> {
    let refs: Vec<&Dispatch> = case.dispatches.iter().collect();
    e.run(&refs)?;
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        e.run(&refs)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The ViT-S attention shape at a given batch: 196 patches + CLS + 10 queries, 6 heads of 64.
pub fn vit_s_attention(batch: usize) -> AttentionShape {
    AttentionShape {
        batch,
        tokens: 207,
        heads: 6,
        head_dim: 64,
        n_base: 197,
        query_attends: QueryAttends::ClsPatchesSelf,
        bidirectional: false,
    }
}

/// Every kernel benchmark, on the engine `request` opens, as one JSON object.
pub fn kernel_bench(request: &EngineRequest, repeats: usize, max_matmul: usize) -> Result<serde_json::Value> {
    let e = Engine::open(request)?;
    let mut cases = Vec::new();
    for side in [256, 1024, 2048, 4096] {
        if side <= max_matmul {
            cases.push(matmul_case(&e, 1, side, side, side, false)?);
        }
    }
    cases.push(matmul_case(&e, 8, 197, 1152, 384, true)?);
    cases.push(attention_case(&e, vit_s_attention(8))?);
    let profiler = crate::gpu::profiler::Profiler::new(&e.ctx, 4);
    let mut results = Vec::new();
    for case in &cases {
        let secs = time_case(&e, case, repeats)?;
        // GPU time from timestamp queries, each dispatch in its own pass, where available.
        let gpu_ms = match &profiler {
            Some(p) => {
                let refs: Vec<&Dispatch> = case.dispatches.iter().collect();
                let times = p.time(&e.ctx, &refs)?;
                Some(times.iter().map(|t| t.1).sum::<f64>() / 1e6)
            }
            None => None,
        };
        results.push(json!({
            "kernel": case.name,
            "ms": secs * 1e3,
            "gflops": case.flops / secs / 1e9,
            "bytes": case.bytes,
            "flops_per_byte": case.flops / case.bytes,
            "gbytes_per_s": case.bytes / secs / 1e9,
            "gpu_ms": gpu_ms,
        }));
    }
    Ok(json!({
        "adapter": e.ctx.info.name,
        "backend": format!("{:?}", e.ctx.info.backend),
        "device_type": format!("{:?}", e.ctx.info.device_type),
        "kernels": kernels_json(&e),
        "repeats": repeats,
        "results": results,
    }))
}

/// The engine's kernel of each family and where each came from, as JSON.
pub fn kernels_json(e: &Engine) -> serde_json::Value {
    json!({
        "matmul": e.choice.matmul.name(),
        "precision": e.choice.precision.name(),
        "rows": e.choice.rows.name(),
        "attention": e.choice.attention.name(),
        "sources": e.sources,
    })
}

/// `adclr-wgpu tune`: times each family's candidates on ViT-S shapes of `rows` token rows and,
/// with `save_to` (the tuning cache), stores the fastest of each for this adapter there.
pub fn tune_report(
    choice: &AdapterChoice,
    repeats: usize,
    rows: usize,
    save_to: Option<&std::path::Path>,
) -> Result<serde_json::Value> {
    if rows == 0 {
        return Err(crate::Error::Data("--rows must be at least 1".into()));
    }
    let cases = TuneCases::vit_s(rows);
    let (measured, best) = measure_candidates(choice, cases, repeats)?;
    let ctx = crate::gpu::GpuContext::open(choice)?;
    let (_, d_in, d_out) = cases.linear;
    let matmul_flops = 3.0 * 2.0 * (rows * d_in * d_out) as f64;
    let timed = |v: &[(String, f64)], flops: Option<f64>| -> Vec<serde_json::Value> {
        v.iter().map(|(name, ms)| json!({ "kernel": name, "ms": ms, "gflops": flops.map(|f| f / ms / 1e6) })).collect()
    };
    let attention_flops = attention_case_flops(&cases.attention);
    let report = json!({
        "matmul": { "case": format!("linear layer {rows}x{d_in}->{d_out}: forward, input gradient, weight gradient"),
                    "candidates": timed(&measured.matmul, Some(matmul_flops)) },
        "rows": { "case": format!("layernorm {rows}x{d_in} forward and backward"), "candidates": timed(&measured.rows, None) },
        "attention": { "case": format!("attention fwd+bwd b{} t{} h{} d{}", cases.attention.batch, cases.attention.tokens,
                        cases.attention.heads, cases.attention.head_dim),
                       "candidates": timed(&measured.attention, Some(attention_flops)) },
    });
    let mut saved_to = None;
    if let Some(path) = save_to {
        let entry = tune::TunedEntry { chosen: best, measured, version: env!("CARGO_PKG_VERSION").into() };
        tune::store(path, &ctx.info, entry)?;
        saved_to = Some(path.display().to_string());
    }
    Ok(json!({
        "adapter": ctx.info.name,
        "backend": format!("{:?}", ctx.info.backend),
        "measured": report,
        "chosen": best,
        "saved_to": saved_to,
    }))
}

/// Synthetic step input for a configuration (uniform noise, no drop-path).
pub fn synthetic_input(cfg: &crate::model::AdclrConfig, seed: u64) -> crate::spec::batch::StepInput {
    let mut rng = crate::rng::Rng::new(seed);
    let m = &cfg.model;
    let cpp = m.patch_len();
    let mut v = |n: usize| (0..n).map(|_| rng.range(-1.0, 1.0) as f32).collect::<Vec<f32>>();
    let crops = v(cfg.batch * cfg.queries * cpp);
    let (global_drop, local_drop) = crate::spec::batch::StepInput::no_drop(cfg);
    crate::spec::batch::StepInput {
        global_patches: v(2 * cfg.batch * m.patches(m.image_size) * cpp),
        query_patches: [crops.clone(), crops].concat(),
        local_patches: v(cfg.local_crops * cfg.batch * m.patches(m.local_size) * cpp),
        global_drop,
        local_drop,
    }
}

/// What each data-parallel rank adds to a step besides MPI's reduction (issue 14): every
/// gradient chunk read back to the host and written again, the read and the write timed
/// apart (median of 3), through a new staging buffer per read (`read_f32`) and through one
/// kept staging buffer (`read_into`, what the exchange uses).
fn gradient_round_trip(e: &Engine, step: &crate::model::step::AdclrStep) -> Result<serde_json::Value> {
    let largest = step.chunks.iter().map(|c| c.grads.len()).max().unwrap_or(0);
    let staging = crate::gpu::Staging::new(&e.ctx, 4 * largest as u64);
    let mut host = vec![0.0f32; largest];
    let (mut fresh, mut kept, mut write) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        for (kept_staging, times) in [(false, &mut fresh), (true, &mut kept)] {
            e.ctx.wait()?;
            let t = Instant::now();
            for c in &step.chunks {
                let out = &mut host[..c.grads.len()];
                match kept_staging {
                    true => c.grads.read_into(&e.ctx, &staging, out)?,
                    false => out.copy_from_slice(&c.grads.read_f32(&e.ctx)?),
                }
            }
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        e.ctx.wait()?;
        let t = Instant::now();
        for c in &step.chunks {
            c.grads.write_f32(&e.ctx, &host[..c.grads.len()])?;
        }
        e.ctx.wait()?;
        write.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(json!({
        "bytes": step.chunks.iter().map(|c| 4 * c.grads.len() as u64).sum::<u64>(),
        "chunks": step.chunks.len(),
        "read_ms_new_staging": median(fresh),
        "read_ms_kept_staging": median(kept),
        "write_ms": median(write),
    }))
}

/// Timed ADCLR steps of exactly this configuration on synthetic data, on the engine `request`
/// opens, as one JSON object.
pub fn step_bench(request: &EngineRequest, cfg: &crate::model::AdclrConfig, steps: usize) -> Result<serde_json::Value> {
    let e = Engine::open(request)?;
    let mut step = crate::model::step::AdclrStep::new(&e, cfg, 0)?;
    let input = synthetic_input(cfg, 1);
    let hyper = crate::spec::batch::StepHyper {
        lr: 1e-4,
        weight_decay: 0.04,
        teacher_momentum: 0.996,
        teacher_temp: 0.04,
        teacher_query_temp: 0.04,
        freeze_last_layer: false,
    };
    step.run(&e, &input, &hyper)?;
    e.ctx.wait()?;
    let mut times = Vec::new();
    let mut encode = Vec::new();
    let mut submit = Vec::new();
    let mut run_call = Vec::new();
    for _ in 0..steps.max(1) {
        let t = Instant::now();
        step.run(&e, &input, &hyper)?;
        run_call.push(t.elapsed().as_secs_f64());
        encode.push(step.last_host_time.0.as_secs_f64());
        submit.push(step.last_host_time.1.as_secs_f64());
        e.ctx.wait()?;
        times.push(t.elapsed().as_secs_f64());
    }
    step.check_health(&e)?;
    let gradient_exchange_io = gradient_round_trip(&e, &step)?;
    // What the driver's allocator holds now (wgpu reports it on Vulkan, DX12 and Metal).
    let allocator = e.ctx.device.generate_allocator_report();
    let allocated = allocator.as_ref().map(|r| r.total_allocated_bytes);
    let reserved = allocator.as_ref().map(|r| r.total_reserved_bytes);
    // GPU time per kernel family from timestamp queries (one timed pass per dispatch).
    let dispatches = step.all_dispatches();
    let mut per_kernel: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    if let Some(profiler) = crate::gpu::profiler::Profiler::new(&e.ctx, dispatches.len() as u32) {
        for (name, ns) in profiler.time(&e.ctx, &dispatches)? {
            *per_kernel.entry(name).or_default() += ns / 1e6;
        }
    }
    times.sort_by(f64::total_cmp);
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let median = times[times.len() / 2];
    Ok(json!({
        "adapter": e.ctx.info.name,
        "backend": format!("{:?}", e.ctx.info.backend),
        "kernels": kernels_json(&e),
        "preset": cfg.model.preset,
        "batch": cfg.batch,
        "queries": cfg.queries,
        "local_crops": cfg.local_crops,
        "steps": steps,
        "median_ms_per_step": median * 1e3,
        "images_per_s": cfg.batch as f64 / median,
        // Host time creating and recording the step's command buffers, inside queue.submit
        // (a software driver such as lavapipe runs the work there), and the whole `run` call.
        "cpu_ms_encode": median_of(encode) * 1e3,
        "cpu_ms_submit": median_of(submit) * 1e3,
        "cpu_ms_run_call": median_of(run_call) * 1e3,
        "planned_bytes": step.plan.total_bytes(),
        "gradient_exchange_io": gradient_exchange_io,
        "allocated_bytes": allocated,
        "reserved_bytes": reserved,
        "dispatches_per_step": dispatches.len(),
        "gpu_ms_by_kernel": per_kernel,
    }))
}
