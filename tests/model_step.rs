//! The whole ADCLR step on the GPU against the same step in the CPU reference (f64), on a
//! tiny configuration: depth 2, D 32, 2 heads, K 64, batch 2, Q 3, one local crop.

mod common;

use adclr_wgpu::cli::environment::native_defaults;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::gpu::{AdapterChoice, Engine, EngineRequest};
use adclr_wgpu::model::batch::{StepHyper, StepInput};
use adclr_wgpu::model::config::AdclrConfig;
use adclr_wgpu::model::pos_embed::resize_matrix;
use adclr_wgpu::model::step::{AdclrStep, Flat};
use adclr_wgpu::ops::loss_scale::{LossScaleRule, LossScaler};
use adclr_wgpu::reference::step::{adclr_step, RefState};
use common::{adapter, check_close, engine, Rng};

fn tiny(queries: usize, lambda: f64) -> AdclrConfig {
    let model = common::tiny_model();
    let mut c = AdclrConfig::new(model, 2);
    c.queries = queries;
    c.lambda = lambda;
    c.local_crops = 1;
    c
}

fn input(c: &AdclrConfig, seed: u64, drop: bool) -> StepInput {
    let mut rng = Rng::new(seed);
    let m = &c.model;
    let cpp = m.patch_len();
    let mut v = |n: usize| (0..n).map(|_| rng.uniform() as f32 * 2.0).collect::<Vec<f32>>();
    let global = v(2 * c.batch * m.patches(m.image_size) * cpp);
    // Each image's Q crops, the same for both global views.
    let crops = v(c.batch * c.queries * cpp);
    let query = [crops.clone(), crops].concat();
    let local = v(c.local_crops * c.batch * m.patches(m.local_size) * cpp);
    let (mut gd, mut ld) = StepInput::no_drop(c);
    if drop {
        gd[1] = 0.0;
        gd[2] = 1.25;
        ld[0] = 1.25;
    }
    StepInput { global_patches: global, query_patches: query, local_patches: local, global_drop: gd, local_drop: ld }
}

fn hyper() -> StepHyper {
    StepHyper {
        lr: 1e-3,
        weight_decay: 0.04,
        teacher_momentum: 0.9,
        teacher_temp: 0.04,
        teacher_query_temp: 0.06,
        freeze_last_layer: false,
    }
}

fn widen(x: &[Vec<f32>]) -> Vec<Vec<f64>> {
    x.iter().map(|v| v.iter().map(|&a| a as f64).collect()).collect()
}

fn ref_state(e: &Engine, gpu: &AdclrStep) -> RefState {
    let student = widen(&gpu.read_flat(e, Flat::Student).unwrap());
    let zeros: Vec<Vec<f64>> = student.iter().map(|v| vec![0.0; v.len()]).collect();
    RefState {
        store: gpu.store.clone(),
        teacher: student.clone(),
        student,
        m: zeros.clone(),
        v: zeros,
        centre_cls: vec![0.0; gpu.cfg.model.out_dim],
        centre_query: vec![0.0; gpu.cfg.model.out_dim],
    }
}

fn compare(what: &str, gpu: &[Vec<f32>], cpu: &[Vec<f64>], atol: f64, rtol: f64) -> Result<(), String> {
    for (g, c) in gpu.iter().zip(cpu) {
        check_close(what, &widen(std::slice::from_ref(g))[0], c, atol, rtol)?;
    }
    Ok(())
}

/// Below this |gradient| AdamW's first step, lr * g / (|g| + eps), is decided by rounding
/// noise (e.g. the key bias, whose exact gradient is 0 by softmax shift invariance): there
/// the parameters may differ by up to 2 lr; everywhere else they must agree tightly.
const NOISE_GRAD: f64 = 1e-6;

fn compare_params(what: &str, gpu: &[Vec<f32>], cpu: &[Vec<f64>], grads: &[Vec<f64>], lr: f64) -> Result<(), String> {
    let mut noisy = 0;
    for ((g, c), gr) in gpu.iter().zip(cpu).zip(grads) {
        for (i, ((&g, &c), &gr)) in g.iter().zip(c).zip(gr).enumerate() {
            let (atol, rtol) = if gr.abs() < NOISE_GRAD { (2.0 * lr + 1e-6, 0.0) } else { (1e-6, 1e-4) };
            noisy += usize::from(gr.abs() < NOISE_GRAD && gr != 0.0);
            check_close(&format!("{what} [{i}]"), &[g as f64], &[c], atol, rtol)?;
        }
    }
    let total: usize = gpu.iter().map(Vec::len).sum();
    if noisy * 20 > total {
        return Err(format!("{what}: {noisy} of {total} gradients are below {NOISE_GRAD}: the test data is too flat"));
    }
    Ok(())
}

/// Runs one step on both and compares everything; returns the GPU step for further use.
fn step_matches_reference(c: &AdclrConfig, drop: bool) {
    step_matches_reference_on(engine(), c, drop);
}

fn step_matches_reference_on(e: &Engine, c: &AdclrConfig, drop: bool) {
    let mut gpu = AdclrStep::new(e, c, 7).unwrap();
    let mut cpu = ref_state(e, &gpu);
    let m = &c.model;
    let resize: Vec<f64> =
        resize_matrix(m.grid(m.image_size), m.grid(m.local_size)).iter().map(|&x| x as f32 as f64).collect();
    let inp = input(c, 11, drop);
    gpu.run(e, &inp, &hyper()).unwrap();
    let (want, grads) = adclr_step(c, &mut cpu, &inp, &hyper(), &resize);
    let got = gpu.report(e).unwrap();
    gpu.check_health(e).unwrap();
    let mut errors = Vec::new();
    let mut push = |r: Result<(), String>| {
        if let Err(m) = r {
            errors.push(m)
        }
    };
    push(check_close("global loss", &[got.global_loss], &[want.global_loss], 1e-5, 1e-5));
    push(check_close("query loss", &[got.query_loss], &[want.query_loss], 1e-5, 1e-5));
    push(compare("gradients", &gpu.read_flat(e, Flat::Grads).unwrap(), &grads, 2e-6, 1e-3));
    push(compare("adam m", &gpu.read_flat(e, Flat::AdamM).unwrap(), &cpu.m, 2e-7, 1e-3));
    push(compare("adam v", &gpu.read_flat(e, Flat::AdamV).unwrap(), &cpu.v, 1e-10, 2e-3));
    let lr = hyper().lr;
    push(compare_params("student", &gpu.read_flat(e, Flat::Student).unwrap(), &cpu.student, &grads, lr));
    // The teacher moved by (1 - momentum) of the student's change.
    push(compare_params("teacher", &gpu.read_flat(e, Flat::Teacher).unwrap(), &cpu.teacher, &grads, lr * 0.1));
    let cc: Vec<f64> = gpu.centre_cls.read_f32(&e.ctx).unwrap().iter().map(|&x| x as f64).collect();
    let cq: Vec<f64> = gpu.centre_query.read_f32(&e.ctx).unwrap().iter().map(|&x| x as f64).collect();
    push(check_close("centre cls", &cc, &cpu.centre_cls, 1e-6, 1e-4));
    push(check_close("centre query", &cq, &cpu.centre_query, 1e-6, 1e-4));
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn one_full_step_matches_the_cpu_reference() {
    step_matches_reference(&tiny(3, 0.5), false);
}

#[test]
fn one_full_step_with_drop_path_matches_the_cpu_reference() {
    step_matches_reference(&tiny(3, 0.5), true);
}

/// Under wgpu's default limits and no optional features (`--limits minimal`: 8 storage
/// buffers per stage, 16 KiB of workgroup memory, 128 MiB per binding, no subgroups, no
/// timestamps) every kernel family has a path that fits, and the step is still exact.
#[test]
fn one_full_step_under_minimal_limits_matches_the_cpu_reference() {
    let choice = AdapterChoice { limits: Some(adclr_wgpu::gpu::context::DeviceLimits::Minimal), ..Default::default() };
    let e = Engine::open(&EngineRequest::native(choice.clone(), None, &native_defaults().unwrap())).unwrap();
    let l = &e.ctx.limits;
    assert_eq!(l.max_storage_buffers_per_shader_stage, 8);
    assert_eq!(l.max_compute_workgroup_storage_size, 16 << 10);
    assert_eq!(l.max_storage_buffer_binding_size, 128 << 20);
    assert!(!e.ctx.subgroups && !e.ctx.timestamps);
    // The 9-buffer fused residual + LayerNorm and the subgroup kernels are left out.
    assert!(!e.kernels.has(entry::RESIDUAL_LAYERNORM) && !e.kernels.has(entry::MATMUL_SG_NT));
    step_matches_reference_on(&e, &tiny(3, 0.5), true);
}

#[test]
fn lambda_zero_is_exactly_a_dino_step() {
    let e = engine();
    let with_q = tiny(3, 0.0);
    let dino = tiny(0, 0.0);
    let inp_q = input(&with_q, 21, true);
    let inp = StepInput { query_patches: vec![], ..inp_q.clone() };
    let mut a = AdclrStep::new(e, &with_q, 5).unwrap();
    let mut b = AdclrStep::new(e, &dino, 5).unwrap();
    for _ in 0..2 {
        a.run(e, &inp_q, &hyper()).unwrap();
        b.run(e, &inp, &hyper()).unwrap();
    }
    assert_eq!(a.report(e).unwrap().global_loss, b.report(e).unwrap().global_loss);
    for which in [Flat::Student, Flat::Teacher, Flat::AdamM, Flat::AdamV] {
        assert_eq!(a.read_flat(e, which).unwrap(), b.read_flat(e, which).unwrap(), "{which:?} differs");
    }
    assert_eq!(a.centre_cls.read_f32(&e.ctx).unwrap(), b.centre_cls.read_f32(&e.ctx).unwrap());
}

/// CLS and patch rows of the student's global-view output after one forward.
fn base_rows(step: &AdclrStep, c: &AdclrConfig) -> Vec<f32> {
    let e = engine();
    let out = step.student_global.normed.read_f32(&e.ctx).unwrap();
    let (d, n) = (c.model.dim, c.model.patches(c.model.image_size));
    let t = c.global_tokens();
    (0..2 * c.batch).flat_map(|i| out[i * t * d..(i * t + 1 + n) * d].to_vec()).collect()
}

#[test]
fn one_way_mask_keeps_cls_and_patches_independent_of_queries() {
    let e = engine();
    let with_q = tiny(3, 0.5);
    let without = tiny(0, 0.0);
    let inp_q = input(&with_q, 31, false);
    let inp = StepInput { query_patches: vec![], ..inp_q.clone() };
    let mut a = AdclrStep::new(e, &with_q, 9).unwrap();
    let mut b = AdclrStep::new(e, &without, 9).unwrap();
    a.run(e, &inp_q, &hyper()).unwrap();
    b.run(e, &inp, &hyper()).unwrap();
    assert_eq!(base_rows(&a, &with_q), base_rows(&b, &without));
    let bi = AdclrConfig { bidirectional: true, ..with_q.clone() };
    let mut c = AdclrStep::new(e, &bi, 9).unwrap();
    c.run(e, &inp_q, &hyper()).unwrap();
    let (x, y) = (base_rows(&c, &bi), base_rows(&b, &without));
    let max_diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(max_diff > 1e-3, "bidirectional attention left CLS/patches unchanged (max diff {max_diff})");
}

#[test]
fn ten_steps_on_a_fixed_batch_lower_the_loss() {
    let e = engine();
    let c = tiny(3, 0.5);
    let inp = input(&c, 41, false);
    let mut s = AdclrStep::new(e, &c, 3).unwrap();
    let h = StepHyper { lr: 5e-3, ..hyper() };
    s.run(e, &inp, &h).unwrap();
    let first = s.report(e).unwrap().loss;
    for _ in 0..9 {
        s.run(e, &inp, &h).unwrap();
    }
    let last = s.report(e).unwrap().loss;
    s.check_health(e).unwrap();
    assert!(last < first * 0.95, "loss went from {first} to {last}");
}

#[test]
fn nan_input_stops_with_the_step_and_term_and_keeps_the_state() {
    let e = engine();
    let c = tiny(3, 0.5);
    let mut s = AdclrStep::new(e, &c, 3).unwrap();
    let good = input(&c, 51, false);
    s.run(e, &good, &hyper()).unwrap();
    s.check_health(e).unwrap();
    let after_one = s.state(e, 0).unwrap();
    let before = (s.read_flat(e, Flat::Student).unwrap(), s.read_flat(e, Flat::Teacher).unwrap());
    let centre = s.centre_cls.read_f32(&e.ctx).unwrap();
    let mut bad = good.clone();
    bad.global_patches[5] = f32::NAN;
    s.run(e, &bad, &hyper()).unwrap();
    s.run(e, &good, &hyper()).unwrap();
    let msg = s.check_health(e).unwrap_err().to_string();
    assert!(msg.contains("step 2") && msg.contains("loss"), "{msg}");
    assert_eq!(before.0, s.read_flat(e, Flat::Student).unwrap(), "student changed after the NaN step");
    assert_eq!(before.1, s.read_flat(e, Flat::Teacher).unwrap(), "teacher changed after the NaN step");
    assert_eq!(centre, s.centre_cls.read_f32(&e.ctx).unwrap(), "centre changed after the NaN step");
    // The counters go back to the state before step 2, which is then the whole state.
    s.rewind_before(2);
    assert_eq!(s.step, 1);
    let st = s.state(e, 0).unwrap();
    assert!(st.tensor_steps.iter().all(|&n| n <= 1), "{:?}", st.tensor_steps);
    assert_eq!(st.student, after_one.student);
    assert_eq!(st.tensor_steps, after_one.tensor_steps);
}

/// The step's readbacks as futures (what a browser awaits) give what the blocking ones give:
/// the losses, the health check's Ok and its error after a NaN step.
#[test]
fn the_async_step_readbacks_give_what_the_blocking_ones_give() {
    let e = engine();
    let c = tiny(3, 0.5);
    let mut s = AdclrStep::new(e, &c, 4).unwrap();
    let good = input(&c, 53, false);
    s.run(e, &good, &hyper()).unwrap();
    let report = pollster::block_on(s.report_async(e)).unwrap();
    assert_eq!(report, s.report(e).unwrap());
    assert!(report.loss.is_finite() && report.query_loss > 0.0, "{report:?}");
    pollster::block_on(s.check_health_async(e)).unwrap();
    assert_eq!(pollster::block_on(s.loss_scaler_async(e)).unwrap(), None, "f32 has no loss scale");
    let mut bad = good.clone();
    bad.query_patches[2] = f32::NAN;
    s.run(e, &bad, &hyper()).unwrap();
    let awaited = pollster::block_on(s.check_health_async(e)).unwrap_err().to_string();
    assert!(awaited.contains("step 2") && awaited.contains("loss"), "{awaited}");
    assert_eq!(awaited, s.check_health(e).unwrap_err().to_string());
}

#[test]
fn non_finite_parameters_after_an_update_are_named() {
    let e = engine();
    let c = tiny(3, 0.5);
    let mut s = AdclrStep::new(e, &c, 3).unwrap();
    s.run(e, &input(&c, 52, false), &hyper()).unwrap();
    s.check_health(e).unwrap();
    let mut flats = s.read_flat(e, Flat::AdamV).unwrap();
    let (chunk, seg) = s.store.place[s.store.index("blocks.1.mlp.fc2.weight").unwrap()];
    flats[chunk][s.store.chunks[chunk].segments[seg].offset + 3] = f32::INFINITY;
    s.write_flat(e, Flat::AdamV, &flats).unwrap();
    let msg = s.check_health(e).unwrap_err().to_string();
    assert!(msg.contains("step 1") && msg.contains("second Adam moments of `blocks.1.mlp.fc2.weight`"), "{msg}");
}

/// The f16-mixed engine on this device: cooperative matrices for the matmul and the
/// attention where it has them (Mesa 26 lavapipe in CI, scripts/mesa26.sh), else the default
/// matmul with f16 operands and the f16 quad attention; None with a note where it has no f16.
fn f16_engine() -> Option<Engine> {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, KernelChoice, MatmulKernel, Precision};
    if let Some(missing) = Precision::F16Mixed.missing_on(&engine().ctx) {
        eprintln!("note: f16-mixed needs {missing}; not tested here");
        return None;
    }
    let matmul = match MatmulKernel::Coop.missing_on(&engine().ctx) {
        None => MatmulKernel::Coop,
        // .ci/run sets ADCLR_EXPECT_COOP on Mesa 26, where this step must run on them.
        Some(missing) if std::env::var_os("ADCLR_EXPECT_COOP").is_some() => {
            panic!("ADCLR_EXPECT_COOP is set, but {missing}")
        }
        Some(_) => engine().choice.matmul,
    };
    let attention =
        match (AttentionKernel::Coop.missing_on(&engine().ctx), AttentionKernel::Quad.missing_on(&engine().ctx)) {
            (None, _) => AttentionKernel::Coop,
            (Some(_), None) => AttentionKernel::Quad,
            (Some(_), Some(_)) => engine().choice.attention,
        };
    eprintln!("f16-mixed engine: the {} matmul, the {} attention", matmul.name(), attention.name());
    let choice = KernelChoice { precision: Precision::F16Mixed, matmul, attention, ..engine().choice };
    Some(Engine::open(&EngineRequest::exact(adapter(), choice)).unwrap())
}

fn set_loss_scaler(e: &Engine, s: &AdclrStep, l: LossScaler) {
    let words = [l.scale.to_bits(), l.clean, l.skipped, 0];
    let st = &s.loss_scale.state;
    e.ctx.queue.write_buffer(&st.buffer, st.offset, bytemuck::cast_slice(&words));
}

/// ||got - want|| / ||want|| over every chunk.
fn relative_error(got: &[Vec<f64>], want: &[Vec<f64>]) -> f64 {
    let (mut diff, mut norm) = (0.0, 0.0);
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            diff += (a - b) * (a - b);
            norm += b * b;
        }
    }
    (diff / norm).sqrt()
}

/// Relative error f16 operands allow in a whole step's gradients (measured 3.1e-3 on Mesa 22
/// lavapipe with the f16 SIMT matmul and quad attention, 5.0e-3 on Mesa 26 with both on
/// cooperative matrices, which also round P and dS; f32 kernels reach 1e-6): a gradient off
/// by 2% fails it.
const F16_STEP_GRADIENT_ERROR: f64 = 1e-2;

/// A whole step under f16-mixed (f16 matmul and attention operands, f32 accumulation, the loss scaled by
/// 2^8: the initial 2^16 overflows the logit gradients of this tiny model, whose first steps
/// the scaler skips, as PyTorch's) against the f32 CPU reference: the losses to 1e-3, the
/// gradients (the scale divided out) to F16_STEP_GRADIENT_ERROR, which refuses them scaled by
/// 1.02; the updated parameters to 5% of lr wherever the gradient is clear of f16 noise (above
/// 1% of its rms; AdamW's first step moves every parameter by about lr).
#[test]
fn one_full_step_under_f16_mixed_matches_the_cpu_reference_at_f16_tolerance() {
    let Some(e) = f16_engine() else { return };
    let e = &e;
    // One head of 64: the size the f16 attention kernels take.
    let mut c = tiny(3, 0.5);
    c.model.dim = 64;
    c.model.heads = 1;
    let mut gpu = AdclrStep::new(e, &c, 7).unwrap();
    let mut cpu = ref_state(e, &gpu);
    let m = &c.model;
    let resize: Vec<f64> =
        resize_matrix(m.grid(m.image_size), m.grid(m.local_size)).iter().map(|&x| x as f32 as f64).collect();
    let inp = input(&c, 11, false);
    assert_eq!(gpu.loss_scaler(e).unwrap().expect("f16-mixed scales the loss").scale, 65536.0);
    let scale = 256.0;
    set_loss_scaler(e, &gpu, LossScaler { scale: scale as f32, clean: 0, skipped: 0 });
    gpu.run(e, &inp, &hyper()).unwrap();
    let (want, grads) = adclr_step(&c, &mut cpu, &inp, &hyper(), &resize);
    let got = gpu.report(e).unwrap();
    gpu.check_health(e).unwrap();
    check_close("global loss", &[got.global_loss], &[want.global_loss], 0.0, 1e-3).unwrap();
    check_close("query loss", &[got.query_loss], &[want.query_loss], 0.0, 1e-3).unwrap();
    let unscaled: Vec<Vec<f64>> =
        widen(&gpu.read_flat(e, Flat::Grads).unwrap()).iter().map(|v| v.iter().map(|g| g / scale).collect()).collect();
    let err = relative_error(&unscaled, &grads);
    eprintln!("f16-mixed step: gradient relative error {err:.2e}");
    assert!(err < F16_STEP_GRADIENT_ERROR, "gradients off by {err:.2e}");
    let wrong: Vec<Vec<f64>> = grads.iter().map(|v| v.iter().map(|g| g * 1.02).collect()).collect();
    assert!(relative_error(&unscaled, &wrong) > F16_STEP_GRADIENT_ERROR, "the tolerance passes a 2% error");
    // The first AdamW step moves a parameter by about lr against its gradient's sign.
    let lr = hyper().lr;
    let student = gpu.read_flat(e, Flat::Student).unwrap();
    let rms =
        (grads.iter().flatten().map(|g| g * g).sum::<f64>() / grads.iter().map(Vec::len).sum::<usize>() as f64).sqrt();
    let (mut clear, mut total) = (0, 0);
    for ((s, c), g) in student.iter().zip(&cpu.student).zip(&grads) {
        for ((&s, &c), &g) in s.iter().zip(c).zip(g) {
            total += usize::from(g != 0.0);
            if g.abs() > 0.01 * rms {
                clear += 1;
                assert!((s as f64 - c).abs() < 0.05 * lr + 1e-6, "parameter {s} vs reference {c} (gradient {g:e})");
            }
        }
    }
    eprintln!("f16-mixed step: {clear} of {total} non-zero gradients above 1% of their rms");
    assert!(clear * 2 > total, "only {clear} of {total} gradients clear of f16 noise: the test data is too flat");
    assert_eq!(gpu.loss_scaler(e).unwrap().unwrap().skipped, 0);
}

/// A step whose scaled gradients overflow is skipped: nothing of the student or the Adam
/// state moves, no tensor counts the step, the scale halves, training goes on; the next
/// clean step that completes a growth interval doubles the scale and trains.
#[test]
fn a_step_forced_to_overflow_is_skipped_and_halves_the_scale_then_clean_steps_grow_it() {
    let Some(e) = f16_engine() else { return };
    let e = &e;
    let c = tiny(3, 0.5);
    let mut s = AdclrStep::new(e, &c, 3).unwrap();
    let inp = input(&c, 61, false);
    let set = |s: &AdclrStep, l: LossScaler| set_loss_scaler(e, s, l);
    let before = (s.read_flat(e, Flat::Student).unwrap(), s.read_flat(e, Flat::Teacher).unwrap());
    // 2^120: finite in f32, far past f16 once the loss gradient carries it.
    set(&s, LossScaler { scale: 2f32.powi(120), clean: 5, skipped: 0 });
    s.run(e, &inp, &hyper()).unwrap();
    s.check_health(e).unwrap();
    assert_eq!(s.loss_scaler(e).unwrap().unwrap(), LossScaler { scale: 2f32.powi(119), clean: 0, skipped: 1 });
    assert!(s.read_flat(e, Flat::Student).unwrap() == before.0, "the skipped step moved the student");
    // The EMA still runs (as DINO's), towards the unmoved student: the teacher stays put.
    let teacher = widen(&s.read_flat(e, Flat::Teacher).unwrap());
    compare("teacher after a skipped step", &before.1, &teacher, 1e-7, 1e-6).unwrap();
    assert!(s.read_flat(e, Flat::AdamM).unwrap().iter().flatten().all(|&x| x == 0.0), "Adam moments moved");
    assert!(s.tensor_steps(e).unwrap().iter().all(|&n| n == 0), "a skipped step counted");
    // One clean step short of the growth interval: it trains and doubles the scale.
    let interval = LossScaleRule::DEFAULT.growth_interval;
    set(&s, LossScaler { scale: 256.0, clean: interval - 1, skipped: 1 });
    s.run(e, &inp, &hyper()).unwrap();
    s.check_health(e).unwrap();
    assert_eq!(s.loss_scaler(e).unwrap().unwrap(), LossScaler { scale: 512.0, clean: 0, skipped: 1 });
    assert!(s.read_flat(e, Flat::Student).unwrap() != before.0, "the clean step did not train");
    let steps = s.tensor_steps(e).unwrap();
    assert!(steps.iter().all(|&n| n <= 1) && steps.contains(&1), "{steps:?}");
    // Its bias corrections were those of a first step (1 - beta), not of the host's second.
    for (o, layout) in s.optimizers.iter().zip(&s.store.chunks) {
        let clip = o.clip.read_f32(&e.ctx).unwrap();
        for (i, seg) in layout.segments.iter().enumerate().filter(|(_, seg)| seg.lr_scale != 0.0) {
            assert_eq!(seg.step, 2, "the host counts the skipped step");
            let (bc1, bc2) = (clip[4 * i + 2] as f64, clip[4 * i + 3] as f64);
            check_close(
                "bias corrections after a skip",
                &[bc1, bc2],
                &[1.0 - c.adam_beta1, 1.0 - c.adam_beta2],
                1e-7,
                1e-4,
            )
            .unwrap();
        }
    }
    // The checkpointed state counts steps taken.
    assert_eq!(s.state(e, 0).unwrap().tensor_steps, steps);
}

/// A scale that fell below MIN_LOSS_SCALE (gradients non-finite at every scale) stops
/// training with an error that says so and how many steps were skipped.
#[test]
fn a_loss_scale_below_the_floor_stops_training() {
    use adclr_wgpu::model::step::MIN_LOSS_SCALE;
    let Some(e) = f16_engine() else { return };
    let e = &e;
    let c = tiny(3, 0.5);
    let mut s = AdclrStep::new(e, &c, 3).unwrap();
    s.run(e, &input(&c, 62, false), &hyper()).unwrap();
    s.check_health(e).unwrap();
    set_loss_scaler(e, &s, LossScaler { scale: MIN_LOSS_SCALE / 2.0, clean: 0, skipped: 27 });
    s.run(e, &input(&c, 63, false), &hyper()).unwrap();
    let msg = s.check_health(e).unwrap_err().to_string();
    assert!(msg.contains("every loss scale") && msg.contains("27 steps skipped"), "{msg}");
}
