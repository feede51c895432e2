//! GELU forward and backward (`shaders/gelu_*.wgsl`, `ops::gelu`, `reference::gelu`).

use crate::common::*;
use adclr_wgpu::ops::gelu;
use adclr_wgpu::reference;

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
