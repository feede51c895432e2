//! The weight-normed last layer (`shaders/weight_norm_*.wgsl`, `ops::weight_norm`, `reference::weight_norm`).

use crate::common::*;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::weight_norm;
use adclr_wgpu::reference;

#[test]
fn weight_norm_forward_and_backward() {
    // A workgroup per row (tiled, large) and an invocation per row (blocked, subgroup).
    for e in engines() {
        let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
        let (download, zeros) = (|t: &GpuTensor| download_on(e, t), |n: &str, len| zeros_on(e, n, len));
        let mut rng = Rng::new(9);
        for (rows, d) in [(1usize, 1usize), (64, 256), (300, 17), (2, 600)] {
            let g = f32_exact(&rng.vec(rows, 2.0));
            let v = f32_exact(&rng.vec(rows * d, 1.0).iter().map(|x| x + 0.01).collect::<Vec<_>>());
            let dw = f32_exact(&rng.vec(rows * d, 1.0));
            let (gg, gv, gw, gn) = (upload("g", &g), upload("v", &v), zeros("w", rows * d), zeros("vnorm", rows));
            let (gdw, gdg, gdv) = (upload("dw", &dw), zeros("dg", rows), zeros("dv", rows * d));
            e.run(&[
                &weight_norm::forward(e, &gg, &gv, &gw, &gn).unwrap(),
                &weight_norm::backward(e, &gg, &gv, &gn, &gdw, &gdg, &gdv).unwrap(),
            ])
            .unwrap();
            let want_w = reference::weight_norm::forward(&g, &v, rows, d);
            assert_close("weight_norm w", &download(&gw), &want_w, 1e-6, 1e-5);
            let (dg, dv) = reference::weight_norm::backward(&g, &v, &dw, rows, d);
            assert_close("weight_norm dg", &download(&gdg), &dg, 1e-5, 1e-4);
            assert_close("weight_norm dv", &download(&gdv), &dv, 1e-5, 1e-4);
        }
    }
}
