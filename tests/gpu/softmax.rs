//! Softmax with temperature (`shaders/softmax_*.wgsl`, `ops::softmax`, `reference::softmax`).

use crate::common::*;
use adclr_wgpu::ops::softmax;
use adclr_wgpu::reference;

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
