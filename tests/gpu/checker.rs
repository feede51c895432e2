//! The checker itself rejects wrong results: a matmul with one missing K term, and a
//! single perturbed element.

use crate::common::*;
use adclr_wgpu::ops::matmul::{self, MatmulShape};
use adclr_wgpu::reference;

#[test]
fn checker_rejects_a_matmul_missing_one_k_term() {
    let e = engine();
    let s = MatmulShape::new(1, 19, 23, 37);
    let mut rng = Rng::new(7);
    let a = f32_exact(&rng.vec(s.a_len(), 1.0));
    let b = f32_exact(&rng.vec(s.b_len(), 1.0));
    let (ga, gb, gc) = (upload("a", &a), upload("b", &b), zeros("c", s.c_len()));
    let d = matmul::forward(e, &s, &ga, &gb, None, &gc, 1.0, false).unwrap();
    e.run(&[&d]).unwrap();
    let got = download(&gc);
    let right = reference::matmul::forward(&s, &a, &b, None, 1.0);
    assert_close("matmul", &got, &right, 1e-5, 1e-4);
    // The same product without the last k term: what an off-by-one kernel would produce.
    let mut short = s;
    short.k = s.k - 1;
    let a_short: Vec<f64> = (0..s.m).flat_map(|i| a[i * s.k..i * s.k + s.k - 1].to_vec()).collect();
    let wrong = reference::matmul::forward(&short, &a_short, &b[..short.k * s.n], None, 1.0);
    assert!(check_close("matmul", &got, &wrong, 1e-5, 1e-4).is_err());
}

#[test]
fn checker_rejects_one_perturbed_element_and_nan() {
    let want = vec![1.0, -2.0, 3.0, 0.0];
    let mut got = want.clone();
    got[2] += 1e-2;
    assert!(check_close("x", &got, &want, 1e-5, 1e-4).is_err());
    got[2] = f64::NAN;
    assert!(check_close("x", &got, &want, 1e-5, 1e-4).is_err());
    assert!(check_close("x", &want, &want, 0.0, 0.0).is_ok());
}
