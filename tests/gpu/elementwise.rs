use crate::common::*;
use adclr_wgpu::ops::{elementwise, gelu, softmax};
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
            "add_scaled",
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

#[test]
fn gelu_forward_and_backward() {
    let e = engine();
    let mut rng = Rng::new(4);
    for n in [1usize, 300, 4099] {
        let mut x = rng.vec(n, 6.0);
        x[0] = 0.0;
        let x = f32_exact(&x);
        let dy = f32_exact(&rng.vec(n, 1.0));
        let (gx, gy, gdy, gdx) = (upload("x", &x), zeros("y", n), upload("dy", &dy), zeros("dx", n));
        e.run(&[&gelu::forward(e, &gx, &gy).unwrap(), &gelu::backward(e, &gx, &gdy, &gdx, false).unwrap()]).unwrap();
        assert_close("gelu", &download(&gy), &reference::gelu::forward(&x), 1e-6, 1e-5);
        assert_close("gelu backward", &download(&gdx), &reference::gelu::backward(&x, &dy), 1e-6, 1e-5);
    }
}

#[test]
fn softmax_with_temperature_forward_and_backward() {
    let e = engine();
    let mut rng = Rng::new(5);
    for (rows, cols, temp) in [(1usize, 1usize, 1.0f32), (3, 257, 0.1), (70, 33, 0.04), (2, 4096, 0.07)] {
        let x = f32_exact(&rng.vec(rows * cols, 1.0));
        let dy = f32_exact(&rng.vec(rows * cols, 1.0));
        let n = rows * cols;
        let (gx, gy, gdy, gdx) = (upload("x", &x), zeros("y", n), upload("dy", &dy), zeros("dx", n));
        e.run(&[&softmax::forward(e, &gx, &gy, cols, temp).unwrap()]).unwrap();
        let inv = 1.0 / temp as f64;
        let y = reference::softmax::forward(&x, rows, cols, inv);
        assert_close("softmax", &download(&gy), &y, 1e-6, 1e-4);
        e.run(&[&softmax::backward(e, &gy, &gdy, &gdx, cols, temp).unwrap()]).unwrap();
        let dx = reference::softmax::backward(&y, &dy, rows, cols, inv);
        assert_close("softmax backward", &download(&gdx), &dx, 1e-5, 1e-3);
    }
}
