//! Runtime pieces: the memory plan, timestamp profiling, and grids past 65535 workgroups.

use crate::common::*;
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
    assert_eq!(times.iter().map(|t| t.0).collect::<Vec<_>>(), vec!["scale", "fill"]);
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
