//! Runtime pieces: the memory plan, timestamp profiling, and grids past 65535 workgroups.

use crate::common::*;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::gpu::profiler::Profiler;
use adclr_wgpu::gpu::MemoryPlan;
use adclr_wgpu::ops::{elementwise, softmax};
use adclr_wgpu::reference;
use adclr_wgpu::Error;

#[test]
fn memory_plan_totals_allocates_and_names_what_cannot_fit() {
    let e = engine();
    let mut plan = MemoryPlan::default();
    let a = plan.add("x", &[3, 5]);
    let b = plan.add("lse", &[7]);
    assert_eq!(plan.total_bytes(), (15 + 7) * 4);
    assert_eq!(plan.largest(), Some(("x", 60)));
    let tensors = plan.allocate(&e.ctx).unwrap();
    assert_eq!(tensors[a].shape, vec![3, 5]);
    assert_eq!(tensors[b].name, "lse");
    let too_big = (e.ctx.limits.max_storage_buffer_binding_size / 4 + 1) as usize;
    plan.add("blocks.3.attn.scores", &[too_big]);
    match plan.check(&e.ctx) {
        Err(Error::BindingTooLarge { name, .. }) | Err(Error::BufferTooLarge { name, .. }) => {
            assert_eq!(name, "blocks.3.attn.scores")
        }
        other => panic!("expected a limit error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn profiler_times_each_dispatch_when_timestamps_exist() {
    let e = engine();
    let Some(profiler) = Profiler::new(&e.ctx, 4) else {
        assert!(!e.ctx.timestamps, "timestamps offered but no profiler");
        return;
    };
    let x = upload("x", &vec![1.0; 100_000]);
    let y = zeros("y", 100_000);
    let d1 = elementwise::scale(e, &x, &y, 2.0, false).unwrap();
    let d2 = elementwise::fill(e, &y, 3.0).unwrap();
    let times = profiler.time(&e.ctx, &[&d1, &d2]).unwrap();
    assert_eq!(times.iter().map(|t| t.0).collect::<Vec<_>>(), vec![entry::SCALE, entry::FILL]);
    assert!(times.iter().all(|t| t.1 > 0.0 && t.1.is_finite()), "{times:?}");
    assert!(download(&y).iter().all(|&v| v == 3.0));
    assert!(profiler.time(&e.ctx, &[&d1, &d2, &d1, &d2, &d1]).is_err(), "capacity is 4");
}

#[test]
fn row_kernels_cover_more_rows_than_one_grid_dimension() {
    let e = engine();
    let (rows, cols) = (66_000usize, 3usize);
    let mut rng = Rng::new(20);
    let x = f32_exact(&rng.vec(rows * cols, 1.0));
    let (gx, gy) = (upload("x", &x), zeros("y", rows * cols));
    e.run(&[&softmax::forward(e, &gx, &gy, cols, 0.5).unwrap()]).unwrap();
    assert_close("softmax 66000 rows", &download(&gy), &reference::softmax::forward(&x, rows, cols, 2.0), 1e-6, 1e-5);
}

#[test]
fn a_kept_staging_buffer_reads_tensors_and_views_again_and_again() {
    // The data-parallel gradient exchange reads every chunk every step through one buffer.
    let e = engine();
    let values: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.0).collect();
    let t = adclr_wgpu::gpu::GpuTensor::zeros(&e.ctx, "t", &[1000]).unwrap();
    t.write_f32(&e.ctx, &values).unwrap();
    let staging = adclr_wgpu::gpu::Staging::new(&e.ctx, 4 * 1000);
    let mut out = vec![0.0f32; 1000];
    for round in 0..3 {
        t.read_into(&e.ctx, &staging, &mut out).unwrap();
        assert_eq!(out, values, "round {round}");
        out.fill(0.0);
    }
    // A view at an offset, smaller than the staging buffer.
    let start = (e.ctx.limits.min_storage_buffer_offset_alignment / 4) as usize;
    let view = t.view(&e.ctx, "tail", start, &[1000 - start]).unwrap();
    let mut tail = vec![0.0f32; 1000 - start];
    view.read_into(&e.ctx, &staging, &mut tail).unwrap();
    assert_eq!(tail, values[start..]);
    // Wrong lengths and a staging buffer too small are errors, not panics.
    assert!(t.read_into(&e.ctx, &staging, &mut out[..10]).is_err());
    let small = adclr_wgpu::gpu::Staging::new(&e.ctx, 16);
    assert!(t.read_into(&e.ctx, &small, &mut out).is_err());
}

/// The async engine API (what a browser build awaits) gives what the blocking one gives: a
/// device opened with `Engine::open_async`, a dispatch run, and its output read back with
/// `read_f32_async`, `read_u32_async` and `read_into_async`, all awaited on one future.
#[test]
fn the_async_device_opening_and_readbacks_give_what_the_blocking_ones_give() {
    use adclr_wgpu::gpu::{Engine, GpuTensor, Staging};
    let data: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
    let want = reference::softmax::forward(&data.iter().map(|&v| v as f64).collect::<Vec<_>>(), 25, 40, 2.0);
    let words: Vec<u32> = (0..77u32).map(|i| i.wrapping_mul(2654435761)).collect();
    let (got, got_u32, got_into, blocking) = pollster::block_on(async {
        let e = Engine::open_async(&adclr_wgpu::gpu::EngineRequest::exact(adapter(), engine().choice)).await.unwrap();
        assert_eq!(e.choice, engine().choice);
        let x = GpuTensor::from_f32(&e.ctx, "x", &[25, 40], &data).unwrap();
        let y = GpuTensor::zeros(&e.ctx, "y", &[25, 40]).unwrap();
        e.run(&[&softmax::forward(&e, &x, &y, 40, 0.5).unwrap()]).unwrap();
        let got = y.read_f32_async(&e.ctx).await.unwrap();
        let w = GpuTensor::from_u32(&e.ctx, "w", &[77], &words).unwrap();
        let got_u32 = w.read_u32_async(&e.ctx).await.unwrap();
        let staging = Staging::new(&e.ctx, y.bytes());
        let mut got_into = vec![0f32; y.len()];
        y.read_into_async(&e.ctx, &staging, &mut got_into).await.unwrap();
        (got, got_u32, got_into, y.read_f32(&e.ctx).unwrap())
    });
    assert_close("async softmax", &got.iter().map(|&v| v as f64).collect::<Vec<_>>(), &want, 1e-6, 1e-5);
    assert_eq!(got, blocking);
    assert_eq!(got_into, blocking);
    assert_eq!(got_u32, words);
}
