//! Add, scale and fill (`shaders/elementwise.wgsl`, `ops::elementwise`, `reference::elementwise`).

use crate::common::*;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::ops::elementwise;
use adclr_wgpu::reference;

#[test]
fn add_scaled_scale_and_fill() {
    let e = engine();
    let mut rng = Rng::new(3);
    for n in [1usize, 255, 257, 70_001] {
        let a = f32_exact(&rng.vec(n, 2.0));
        let b = f32_exact(&rng.vec(n, 2.0));
        let (ga, gb, out) = (upload("a", &a), upload("b", &b), zeros("out", n));
        e.run(&[&elementwise::add_scaled(e, &ga, &gb, &out, 1.0, -0.25).unwrap()]).unwrap();
        assert_close(
            entry::ADD_SCALED,
            &download(&out),
            &reference::elementwise::add_scaled(&a, &b, 1.0, -0.25),
            1e-6,
            1e-6,
        );
        // backward of the residual add: da = alpha dy, db = beta dy (dy = b here)
        let (da, db) = reference::elementwise::add_scaled_backward(&b, 1.0, -0.25);
        let (gda, gdb) = (zeros("da", n), zeros("db", n));
        e.run(&[
            &elementwise::scale(e, &gb, &gda, 1.0, false).unwrap(),
            &elementwise::scale(e, &gb, &gdb, -0.25, false).unwrap(),
        ])
        .unwrap();
        assert_close("add_scaled backward a", &download(&gda), &da, 0.0, 1e-7);
        assert_close("add_scaled backward b", &download(&gdb), &db, 0.0, 1e-7);
        // accumulate: gda += 2 a
        e.run(&[&elementwise::scale(e, &ga, &gda, 2.0, true).unwrap()]).unwrap();
        let want: Vec<f64> = da.iter().zip(&a).map(|(x, y)| x + 2.0 * y).collect();
        assert_close("scale accumulate", &download(&gda), &want, 1e-6, 1e-6);
        e.run(&[&elementwise::fill(e, &gda, 0.0).unwrap()]).unwrap();
        assert!(download(&gda).iter().all(|&v| v == 0.0));
    }
}
