use crate::common::*;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::{l2norm, layernorm, weight_norm};
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

#[test]
fn l2norm_forward_and_backward() {
    let e = engine();
    let mut rng = Rng::new(8);
    for (rows, d) in [(1usize, 1usize), (7, 256), (3, 333)] {
        let x = f32_exact(&rng.vec(rows * d, 1.0));
        let dy = f32_exact(&rng.vec(rows * d, 1.0));
        let n = rows * d;
        let (gx, gy, gn) = (upload("x", &x), zeros("y", n), zeros("norm", rows));
        let (gdy, gdx) = (upload("dy", &dy), zeros("dx", n));
        e.run(&[
            &l2norm::forward(e, &gx, &gy, &gn, d).unwrap(),
            &l2norm::backward(e, &gy, &gn, &gdy, &gdx, d).unwrap(),
        ])
        .unwrap();
        let eps = l2norm::EPS as f64;
        let (y, norm) = reference::l2norm::forward(&x, rows, d, eps);
        assert_close("l2norm y", &download(&gy), &y, 1e-6, 1e-5);
        assert_close("l2norm norm", &download(&gn), &norm, 1e-6, 1e-5);
        assert_close("l2norm dx", &download(&gdx), &reference::l2norm::backward(&x, &dy, rows, d, eps), 1e-5, 1e-4);
    }
}

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

#[test]
fn residual_add_then_layernorm_fused() {
    use adclr_wgpu::ops::residual;
    use adclr_wgpu::reference::tokens as r;
    for e in engines() {
        let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
        let mut rng = Rng::new(12);
        // (samples, rows per sample, d): 1030 is past what a workgroup holds (two dispatches).
        for (samples, rows_per, d) in [(1usize, 1usize, 1usize), (3, 5, 9), (2, 3, 300), (1, 2, 1024), (2, 2, 1030)] {
            let n = samples * rows_per * d;
            let rows = samples * rows_per;
            let x = f32_exact(&rng.vec(n, 2.0));
            let br = f32_exact(&rng.vec(n, 1.0));
            let (w, b) = (f32_exact(&rng.vec(d, 1.0)), f32_exact(&rng.vec(d, 1.0)));
            // This block's scales sit at offset 1 of a longer table; sample 0 is dropped.
            let mut table = vec![7.0, 0.0];
            table.extend((1..samples).map(|s| 1.0 + 0.25 * s as f64));
            let scale = &table[1..];
            let (gx, gb, gs) = (upload("x", &x), upload("branch", &br), upload("scale", &table));
            let (gw, gbias) = (upload("w", &w), upload("b", &b));
            let (gout, gy) = (zeros_on(e, "out", n), zeros_on(e, "y", n));
            let (gm, gr) = (zeros_on(e, "mean", rows), zeros_on(e, "rstd", rows));
            let eps = 1e-6;
            let norm = residual::NextNorm { w: &gw, b: &gbias, eps: eps as f32, y: &gy, mean: &gm, rstd: &gr };
            let ss = residual::SampleScale { scale: &gs, offset: 1 };
            let ds = residual::add_then_layernorm(e, &gx, &gb, ss, &gout, d, rows_per, norm).unwrap();
            e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
            let out = r::residual(&x, &br, scale, d, rows_per);
            assert_close(&format!("residual+LN out d {d}"), &download_on(e, &gout), &out, 1e-6, 1e-6);
            let (y, mean, rstd) = reference::layernorm::forward(&out, &w, &b, rows, d, eps);
            assert_close(&format!("residual+LN y d {d}"), &download_on(e, &gy), &y, 1e-5, 1e-4);
            assert_close(&format!("residual+LN mean d {d}"), &download_on(e, &gm), &mean, 1e-6, 1e-5);
            assert_close(&format!("residual+LN rstd d {d}"), &download_on(e, &gr), &rstd, 1e-5, 1e-4);
        }
    }
}
