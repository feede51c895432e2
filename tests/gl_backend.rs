//! The GL backend (here Mesa's llvmpipe OpenGL through EGL; CI installs libegl1,
//! libegl-mesa0 and libgl1-mesa-dri): a whole ADCLR step on GL equals the same step on
//! Vulkan with the same kernels (the register-blocked matmul: GL has no subgroups), which the
//! other tests hold to the CPU reference. One test in its own binary: wgpu's GL backend does
//! not take several devices driven from parallel test threads.

mod common;

use adclr_wgpu::gpu::{AdapterChoice, Backend, Engine, EngineRequest};
use adclr_wgpu::gpu::{AttentionKernel, KernelChoice, MatmulKernel, RowKernels};
use adclr_wgpu::model::batch::StepHyper;
use adclr_wgpu::model::config::AdclrConfig;
use adclr_wgpu::model::step::{AdclrStep, Flat};
use adclr_wgpu::perf::bench::synthetic_input;
use common::check_close;

/// The loss of one step, its parameter gradients and Adam moments, on `backend`.
fn one_step(backend: Backend) -> (Vec<f64>, [Vec<Vec<f32>>; 3]) {
    let choice = AdapterChoice { backend: Some(backend), ..Default::default() };
    let kernels = KernelChoice::f32(MatmulKernel::Blocked, RowKernels::Invocation, AttentionKernel::PerRow);
    let e = Engine::open(&EngineRequest::exact(choice.clone(), kernels)).unwrap_or_else(|err| {
        panic!("no {backend:?} adapter (GL: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri): {err}")
    });
    assert_eq!(Backend::of(e.ctx.info.backend), Some(backend), "{}", e.ctx.describe());
    let mut c = AdclrConfig::new(common::tiny_model(), 2);
    (c.queries, c.local_crops) = (3, 1);
    let mut step = AdclrStep::new(&e, &c, 5).unwrap();
    let h = StepHyper {
        lr: 2e-3,
        weight_decay: 0.04,
        teacher_momentum: 0.9,
        teacher_temp: 0.04,
        teacher_query_temp: 0.04,
        freeze_last_layer: false,
    };
    step.run(&e, &synthetic_input(&c, 30), &h).unwrap();
    let loss = step.report(&e).unwrap().loss;
    step.check_health(&e).unwrap();
    let read = |f| step.read_flat(&e, f).unwrap();
    (vec![loss], [read(Flat::Grads), read(Flat::AdamM), read(Flat::AdamV)])
}

#[test]
fn an_adclr_step_on_gl_equals_the_same_step_on_vulkan() {
    // The tolerances of the whole-step test against the CPU reference (tests/model_step.rs).
    // Parameters are not compared: where a gradient is zero up to rounding (the key bias,
    // by softmax shift invariance) Adam's first step, lr g / (|g| + eps), is decided by noise.
    let (gl_loss, [gl_grads, gl_m, gl_v]) = one_step(Backend::Gl);
    let (vk_loss, [vk_grads, vk_m, vk_v]) = one_step(Backend::Vulkan);
    check_close("loss", &gl_loss, &vk_loss, 1e-5, 1e-5).unwrap();
    let flat = |x: &[Vec<f32>]| x.iter().flatten().map(|&v| v as f64).collect::<Vec<f64>>();
    check_close("gradients", &flat(&gl_grads), &flat(&vk_grads), 2e-6, 1e-3).unwrap();
    check_close("adam m", &flat(&gl_m), &flat(&vk_m), 2e-7, 1e-3).unwrap();
    check_close("adam v", &flat(&gl_v), &flat(&vk_v), 1e-10, 2e-3).unwrap();
    // Not a comparison of zeros: most gradients are clearly non-zero.
    let g = flat(&gl_grads);
    let live = g.iter().filter(|x| x.abs() > 1e-5).count();
    assert!(live > g.len() / 2, "only {live} of {} gradients above 1e-5", g.len());
}
