use crate::common::*;
use adclr_wgpu::gpu::Alloc;
use adclr_wgpu::ops::health::{Health, HealthState};
use adclr_wgpu::ops::loss_scale::{LossScale, LossScaleRule};
use adclr_wgpu::ops::optim::{ema, AdamW, FlatLayout, Optimizer};
use adclr_wgpu::reference;

fn layout() -> FlatLayout {
    let mut l = FlatLayout::default();
    l.push("cls_token", 1, false);
    l.push("blocks.0.attn.qkv.weight", 1000, true);
    l.push("blocks.0.attn.qkv.bias", 1025, false);
    l.push("head.mlp.0.weight", 3000, true);
    l.push("head.last_layer.weight_v", 64, true);
    l
}

#[test]
fn clipping_adamw_and_frozen_tensors_match_reference() {
    // Block sums of squares a workgroup per block (tiled, large) and an invocation per block.
    for e in engines() {
        clipping_on(e, 1.0);
    }
}

/// Gradients that carry a loss scale (f16-mixed) give the update of the unscaled ones: the
/// norms, the clipping and AdamW divide it out; and a tensor that skipped a step takes the
/// bias corrections of the steps it did take.
#[test]
fn scaled_gradients_and_skipped_steps_match_the_unscaled_reference() {
    clipping_on(engine(), 1024.0);
}

fn clipping_on(e: &adclr_wgpu::gpu::Engine, loss_scale: f32) {
    let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
    let zeros = |n: &str, len: usize| zeros_on(e, n, len);
    let download = |t: &adclr_wgpu::gpu::GpuTensor| download_on(e, t);
    let mut rng = Rng::new(14);
    let mut lay = layout();
    let n = lay.total;
    let mut params = f32_exact(&rng.vec(n, 1.0));
    let mut m = vec![0.0; n];
    let mut v = vec![0.0; n];
    let (gp, gm, gv, gg) = (upload("params", &params), zeros("m", n), zeros("v", n), zeros("grads", n));
    let mut opt = AdamW { lr: 1e-2, weight_decay: 0.04, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let max_norm = 3.0;
    let health = Health::new(e).unwrap();
    let scaler = LossScale::new(e, LossScaleRule { init: loss_scale, ..LossScaleRule::NONE }).unwrap();
    let optimizer =
        Optimizer::new(&mut Alloc::new(e), &lay, &opt, max_norm as f32, &gg, &gp, &gm, &gv, &health.flag, &scaler)
            .unwrap();
    for step in 1..=3u64 {
        // Large gradients for some tensors so clipping engages for them only.
        let mut grads = f32_exact(&rng.vec(n, 0.05));
        let big = lay.segments[3].offset;
        for g in &mut grads[big..big + 3000] {
            *g = f32_exact(&[*g * 100.0])[0];
        }
        let last = lay.segments.len() - 1;
        for (i, s) in lay.segments.iter_mut().enumerate() {
            // The last layer is frozen during the first step, then trains with its own count.
            let frozen = i == last && step == 1;
            s.lr_scale = if frozen { 0.0 } else { 1.0 };
            if !frozen {
                s.step += 1;
            }
        }
        opt.lr *= 0.9;
        // Before the last step every tensor has skipped one (under scaling).
        let skips = u32::from(step == 3 && loss_scale != 1.0);
        let skipped = vec![skips; lay.segments.len()];
        e.ctx.queue.write_buffer(&optimizer.skipped.buffer, optimizer.skipped.offset, bytemuck::cast_slice(&skipped));
        let scaled: Vec<f32> = grads.iter().map(|&x| x as f32 * loss_scale).collect();
        gg.write_f32(&e.ctx, &scaled).unwrap();
        optimizer.set_step(e, &lay, &opt).unwrap();
        e.run(&optimizer.dispatches.iter().collect::<Vec<_>>()).unwrap();
        let clip = reference::optim::clip_scales(&grads, &lay.segments, max_norm);
        assert!(clip[3].0 < 1.0 && clip[0].0 == 1.0, "test data must clip one tensor and not another");
        // The reference takes the steps taken: the host's count less the skips.
        let mut taken = lay.segments.clone();
        for s in taken.iter_mut() {
            s.step -= skips as u64;
        }
        reference::optim::adamw_step(&opt, &taken, &clip, &grads, &mut params, &mut m, &mut v);
        let got_clip = download(&optimizer.clip);
        let bc = |beta: f64, s: &reference::optim::Segment| 1.0 - beta.powi(s.step.max(1) as i32);
        let want_clip: Vec<f64> = clip
            .iter()
            .zip(&taken)
            .flat_map(|(&(c, n), s)| [c / loss_scale as f64, n, bc(opt.beta1, s), bc(opt.beta2, s)])
            .collect();
        assert_close(&format!("clip step {step}"), &got_clip, &want_clip, 1e-6, 1e-5);
        assert_close(&format!("params step {step}"), &download(&gp), &params, 1e-6, 1e-5);
        assert_close(&format!("m step {step}"), &download(&gm), &m, 1e-7, 1e-5);
        assert_close(&format!("v step {step}"), &download(&gv), &v, 1e-9, 1e-4);
    }
}

#[test]
fn ema_matches_reference() {
    let e = engine();
    let mut rng = Rng::new(15);
    for n in [1usize, 1000, 66_000] {
        let student = f32_exact(&rng.vec(n, 1.0));
        let mut teacher = f32_exact(&rng.vec(n, 1.0));
        let (gs, gt) = (upload("student", &student), upload("teacher", &teacher));
        let health = Health::new(e).unwrap();
        e.run(&[&ema(e, &gs, &gt, &health.flag, 0.996).unwrap()]).unwrap();
        reference::optim::ema(&mut teacher, &student, 0.996);
        assert_close("ema", &download(&gt), &teacher, 1e-7, 1e-6);
    }
}

#[test]
fn non_finite_gradient_stops_every_update_and_names_step_and_term() {
    let e = engine();
    let mut lay = FlatLayout::default();
    lay.push("w", 300, true);
    lay.push("b", 5, false);
    for s in lay.segments.iter_mut() {
        s.step = 1;
    }
    let n = lay.total;
    let params: Vec<f64> = (0..n).map(|i| i as f64 * 0.01).collect();
    let (gp, gm, gv) = (upload("params", &params), zeros("m", n), zeros("v", n));
    let mut grads = vec![0.1; n];
    grads[lay.segments[1].offset + 1] = f64::NAN;
    let gg = upload("grads", &grads);
    let health = Health::new(e).unwrap();
    let opt = AdamW { lr: 0.1, weight_decay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let scaler = LossScale::new(e, LossScaleRule::NONE).unwrap();
    let optimizer =
        Optimizer::new(&mut Alloc::new(e), &lay, &opt, 3.0, &gg, &gp, &gm, &gv, &health.flag, &scaler).unwrap();
    let teacher = upload("teacher", &vec![5.0; n]);
    let finite_loss = upload("loss", &[0.5]);
    let loss_check = health.check(e, &finite_loss, 1).unwrap();
    let grad_check = health.check(e, &optimizer.clip, 3).unwrap();
    Health::set_step(e, &grad_check, optimizer.clip.len(), 3, 17).unwrap();
    let ema_d = ema(e, &gp, &teacher, &health.flag, 0.5).unwrap();
    let d = &optimizer.dispatches;
    e.run(&[&loss_check, &d[0], &d[1], &grad_check, &d[2], &ema_d]).unwrap();
    assert_eq!(health.read(e).unwrap(), HealthState::Failed { code: 3, step: 17 });
    assert_close("params untouched", &download(&gp), &f32_exact(&params), 0.0, 0.0);
    assert!(download(&gm).iter().all(|&x| x == 0.0), "moments untouched");
    assert!(download(&teacher).iter().all(|&x| x == 5.0), "teacher untouched");
    // Once healthy again (a good state reloaded) updates resume.
    gg.write_f32(&e.ctx, &vec![0.1f32; n]).unwrap();
    health.reset(e).unwrap();
    e.run(&[&d[0], &d[1], &grad_check, &d[2]]).unwrap();
    assert_eq!(health.read(e).unwrap(), HealthState::Ok);
    assert!(download(&gp)[0] < 0.0, "params moved after reset");
}
