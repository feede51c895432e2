//! Residual adds with drop-path scales, alone and fused with the next LayerNorm
//! (`shaders/residual.wgsl`, `shaders/residual_layernorm.wgsl`, `ops::residual`).

use crate::common::*;
use adclr_wgpu::ops::residual;
use adclr_wgpu::reference;
use adclr_wgpu::reference::residual as r;

#[test]
fn residual_add_then_layernorm_fused() {
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
            let out = r::add(&x, &br, scale, d, rows_per);
            assert_close(&format!("residual+LN out d {d}"), &download_on(e, &gout), &out, 1e-6, 1e-6);
            let (y, mean, rstd) = reference::layernorm::forward(&out, &w, &b, rows, d, eps);
            assert_close(&format!("residual+LN y d {d}"), &download_on(e, &gy), &y, 1e-5, 1e-4);
            assert_close(&format!("residual+LN mean d {d}"), &download_on(e, &gm), &mean, 1e-6, 1e-5);
            assert_close(&format!("residual+LN rstd d {d}"), &download_on(e, &gr), &rstd, 1e-5, 1e-4);
        }
    }
}

#[test]
fn residual_with_drop_path_scales() {
    let e = engine();
    let mut rng = Rng::new(32);
    let (samples, rows_per, dim) = (3usize, 5usize, 9usize);
    let n = samples * rows_per * dim;
    let x = f32_exact(&rng.vec(n, 1.0));
    let br = f32_exact(&rng.vec(n, 1.0));
    let scale = vec![0.0, 1.25, 1.25];
    // The scales sit at offset 2 of a longer table (one block's slice of all blocks').
    let (gx, gb, go) = (upload("x", &x), upload("branch", &br), zeros("out", n));
    let gs = upload("scale", &[9.0, 9.0, 0.0, 1.25, 1.25, 9.0]);
    let ss = residual::SampleScale { scale: &gs, offset: 2 };
    let gd = zeros("dbranch", n);
    e.run(&[
        &residual::add(e, &gx, &gb, ss, &go, dim, rows_per).unwrap(),
        &residual::branch_grad(e, &gx, ss, &gd, dim, rows_per).unwrap(),
    ])
    .unwrap();
    assert_close("residual", &download(&go), &r::add(&x, &br, &scale, dim, rows_per), 1e-7, 1e-6);
    assert_close("residual dbranch", &download(&gd), &r::branch_grad(&x, &scale, dim, rows_per), 1e-7, 1e-6);
}
