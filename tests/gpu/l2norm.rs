//! L2 normalisation of the head's bottleneck (`shaders/l2norm_*.wgsl`, `ops::l2norm`, `reference::l2norm`).

use crate::common::*;
use adclr_wgpu::ops::l2norm;
use adclr_wgpu::reference;

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
