//! Linear layers (`ops::linear`, `reference::linear`): forward, forward with the fused GELU,
//! backward, and backward through a preceding GELU, on every matmul kernel.

use crate::common::*;
use adclr_wgpu::gpu::{Engine, GpuTensor};
use adclr_wgpu::ops::linear::{self, Linear};
use adclr_wgpu::reference;

fn layer(e: &Engine, name: &str, w: &[f64], b: &[f64], inp: usize, out: usize) -> Linear {
    let narrow = |x: &[f64]| x.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let weight = GpuTensor::from_f32(&e.ctx, &format!("{name}.weight"), &[out, inp], &narrow(w)).unwrap();
    let bias = Some(GpuTensor::from_f32(&e.ctx, &format!("{name}.bias"), &[out], &narrow(b)).unwrap());
    Linear { weight, bias }
}

#[test]
fn linear_forward_and_backward_match_reference() {
    for e in engines() {
        let mut rng = Rng::new(41);
        // (rows, in, out): odd sizes, a single row, widths that are and are not multiples of 4.
        for (rows, inp, out) in [(1usize, 3usize, 5usize), (7, 8, 12), (37, 20, 9)] {
            let x = f32_exact(&rng.vec(rows * inp, 1.0));
            let (w, b) = (f32_exact(&rng.vec(out * inp, 0.5)), f32_exact(&rng.vec(out, 0.5)));
            let dy = f32_exact(&rng.vec(rows * out, 1.0));
            let l = layer(e, "fc", &w, &b, inp, out);
            let grad = layer(e, "grad", &vec![0.0; out * inp], &vec![0.0; out], inp, out);
            let (gx, gdy) = (upload_on(e, "x", &x), upload_on(e, "dy", &dy));
            let (gy, gdx) = (zeros_on(e, "y", rows * out), zeros_on(e, "dx", rows * inp));
            let mut ds = vec![linear::forward(e, &gx, &l, &gy, rows).unwrap()];
            ds.extend(linear::backward(e, &gx, &l, &gdy, Some(&gdx), &grad, rows).unwrap());
            e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
            let what = format!("{rows}x{inp}->{out} on {:?}", e.choice);
            let y = reference::linear::forward(&x, &w, Some(&b), rows, inp, out);
            let (dx, dw, db) = reference::linear::backward(&x, &w, &dy, rows, inp, out);
            assert_close(&format!("y {what}"), &download_on(e, &gy), &y, 1e-5, 1e-5);
            assert_close(&format!("dx {what}"), &download_on(e, &gdx), &dx, 1e-5, 1e-5);
            assert_close(&format!("dW {what}"), &download_on(e, &grad.weight), &dw, 1e-5, 1e-5);
            let gdb = download_on(e, grad.bias.as_ref().unwrap());
            assert_close(&format!("db {what}"), &gdb, &db, 1e-5, 1e-5);
        }
    }
}

/// fc1 with its GELU fused into the store, then fc2's backward through that GELU: the MLP of
/// a block, y = GELU(x W1^T + b1) W2^T + b2.
#[test]
fn linear_gelu_variants_match_reference() {
    use reference::gelu;
    for e in engines() {
        let mut rng = Rng::new(42);
        for (rows, d, hidden) in [(1usize, 4usize, 8usize), (13, 12, 20)] {
            let x = f32_exact(&rng.vec(rows * d, 1.0));
            let (w1, b1) = (f32_exact(&rng.vec(hidden * d, 0.5)), f32_exact(&rng.vec(hidden, 0.5)));
            let (w2, b2) = (f32_exact(&rng.vec(d * hidden, 0.5)), f32_exact(&rng.vec(d, 0.5)));
            let dy = f32_exact(&rng.vec(rows * d, 1.0));
            let (fc1, fc2) = (layer(e, "fc1", &w1, &b1, d, hidden), layer(e, "fc2", &w2, &b2, hidden, d));
            let grad2 = layer(e, "grad2", &vec![0.0; d * hidden], &vec![0.0; d], hidden, d);
            let gx = upload_on(e, "x", &x);
            let (gpre, gh) = (zeros_on(e, "pre", rows * hidden), zeros_on(e, "h", rows * hidden));
            let (gy, gdy, gdpre) =
                (zeros_on(e, "y", rows * d), upload_on(e, "dy", &dy), zeros_on(e, "d_pre", rows * hidden));
            let mut ds = vec![linear::forward_gelu(e, &gx, &fc1, (&gpre, &gh), rows).unwrap()];
            ds.push(linear::forward(e, &gh, &fc2, &gy, rows).unwrap());
            ds.extend(linear::backward_through_gelu(e, (&gh, &gpre), &fc2, &gdy, &gdpre, &grad2, rows).unwrap());
            e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
            let what = format!("rows {rows} d {d} hidden {hidden} on {:?}", e.choice);
            let pre = reference::linear::forward(&x, &w1, Some(&b1), rows, d, hidden);
            let h = gelu::forward(&pre);
            let y = reference::linear::forward(&h, &w2, Some(&b2), rows, hidden, d);
            let (dh, dw2, db2) = reference::linear::backward(&h, &w2, &dy, rows, hidden, d);
            assert_close(&format!("pre {what}"), &download_on(e, &gpre), &pre, 1e-5, 1e-5);
            assert_close(&format!("gelu {what}"), &download_on(e, &gh), &h, 1e-5, 1e-5);
            assert_close(&format!("y {what}"), &download_on(e, &gy), &y, 1e-5, 1e-5);
            assert_close(&format!("d_pre {what}"), &download_on(e, &gdpre), &gelu::backward(&pre, &dh), 1e-5, 1e-5);
            assert_close(&format!("dW2 {what}"), &download_on(e, &grad2.weight), &dw2, 1e-5, 1e-5);
            assert_close(&format!("db2 {what}"), &download_on(e, grad2.bias.as_ref().unwrap()), &db2, 1e-5, 1e-5);
        }
    }
}
