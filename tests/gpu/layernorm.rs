//! LayerNorm forward and backward (`shaders/layernorm_*.wgsl`, `ops::layernorm`, `reference::layernorm`).

use crate::common::*;
use adclr_wgpu::ops::layernorm;
use adclr_wgpu::reference;

#[test]
fn layernorm_forward_and_backward() {
    for e in engines() {
        layernorm_on(e);
    }
}

fn layernorm_on(e: &adclr_wgpu::gpu::Engine) {
    let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
    let download = |t: &adclr_wgpu::gpu::GpuTensor| download_on(e, t);
    let zeros = |n: &str, len: usize| zeros_on(e, n, len);
    let mut rng = Rng::new(6);
    // 1000 rows: two passes (chunk sums, then their sum) for dw and db on GPU policies.
    for (rows, d) in [(1usize, 1usize), (5, 32), (67, 192), (3, 300), (2, 768), (1000, 37)] {
        let x: Vec<f64> = f32_exact(&rng.vec(rows * d, 3.0).iter().map(|v| v + 0.5).collect::<Vec<_>>());
        let w = f32_exact(&rng.vec(d, 1.0));
        let b = f32_exact(&rng.vec(d, 1.0));
        let dy = f32_exact(&rng.vec(rows * d, 1.0));
        let n = rows * d;
        let (gx, gw, gb) = (upload("x", &x), upload("w", &w), upload("b", &b));
        let (gy, gm, gr) = (zeros("y", n), zeros("mean", rows), zeros("rstd", rows));
        let eps = 1e-6;
        e.run(&[&layernorm::forward(e, &gx, &gw, &gb, &gy, &gm, &gr, eps as f32).unwrap()]).unwrap();
        let (y, mean, rstd) = reference::layernorm::forward(&x, &w, &b, rows, d, eps);
        assert_close("layernorm y", &download(&gy), &y, 1e-5, 1e-4);
        assert_close("layernorm mean", &download(&gm), &mean, 1e-6, 1e-5);
        // d = 1 gives rstd = 1/sqrt(eps): compare relatively.
        assert_close("layernorm rstd", &download(&gr), &rstd, 1e-5, 1e-4);
        let (gdy, gdx, gdw, gdb) = (upload("dy", &dy), zeros("dx", n), zeros("dw", d), zeros("db", d));
        let ds = layernorm::backward(e, &gx, &gw, &gm, &gr, &gdy, &gdx, &gdw, &gdb, false).unwrap();
        e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
        let (dx, dw, db) = reference::layernorm::backward(&x, &w, &dy, rows, d, eps);
        let dx_atol = if d == 1 { 1e-3 } else { 1e-5 };
        assert_close("layernorm dx", &download(&gdx), &dx, dx_atol, 1e-3);
        assert_close("layernorm dw", &download(&gdw), &dw, 1e-4, 1e-4);
        assert_close("layernorm db", &download(&gdb), &db, 1e-5, 1e-5);
        // accumulate doubles every gradient
        let ds = layernorm::backward(e, &gx, &gw, &gm, &gr, &gdy, &gdx, &gdw, &gdb, true).unwrap();
        e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
        let twice: Vec<f64> = db.iter().map(|v| 2.0 * v).collect();
        assert_close("layernorm db accumulated", &download(&gdb), &twice, 1e-5, 1e-5);
    }
}
