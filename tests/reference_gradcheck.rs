//! The CPU reference's backward passes checked by central finite differences in f64:
//! for a random upstream gradient dy, d/dx sum(dy * f(x)) must equal the analytic backward.

mod common;

use adclr_wgpu::reference::attention::{AttentionShape, QueryAttends};
use adclr_wgpu::reference::dino::DinoShape;
use adclr_wgpu::reference::matmul::MatmulShape;
use adclr_wgpu::reference::{self as r};
use common::{assert_close, Rng};

const H: f64 = 1e-5;

/// Numerical gradient of the scalar function `f` at `x`.
fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let keep = x[i];
            x[i] = keep + H;
            let up = f(&x);
            x[i] = keep - H;
            let down = f(&x);
            x[i] = keep;
            (up - down) / (2.0 * H)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn check(what: &str, analytic: &[f64], numeric: &[f64]) {
    assert_close(what, analytic, numeric, 1e-7, 1e-5);
}

#[test]
fn matmul_backward_by_finite_differences() {
    let mut rng = Rng::new(100);
    for flags in 0..16u32 {
        let mut s = MatmulShape::new(2, 3, 4, 5);
        s.trans_a = flags & 1 != 0;
        s.trans_b = flags & 2 != 0;
        s.broadcast_a = flags & 4 != 0;
        s.broadcast_b = flags & 8 != 0;
        let (a, b, bias) = (rng.vec(s.a_len(), 1.0), rng.vec(s.b_len(), 1.0), rng.vec(s.n, 1.0));
        let dc = rng.vec(s.c_len(), 1.0);
        let alpha = 0.7;
        let (da, db, dbias) = r::matmul::backward(&s, &a, &b, &dc, alpha);
        check("dA", &da, &numeric_grad(&a, |a| dot(&dc, &r::matmul::forward(&s, a, &b, Some(&bias), alpha))));
        check("dB", &db, &numeric_grad(&b, |b| dot(&dc, &r::matmul::forward(&s, &a, b, Some(&bias), alpha))));
        check("dbias", &dbias, &numeric_grad(&bias, |bi| dot(&dc, &r::matmul::forward(&s, &a, &b, Some(bi), alpha))));
    }
}

#[test]
fn layernorm_backward_by_finite_differences() {
    let mut rng = Rng::new(101);
    let (rows, d, eps) = (3, 7, 1e-6);
    let (x, w, b, dy) = (rng.vec(rows * d, 2.0), rng.vec(d, 1.0), rng.vec(d, 1.0), rng.vec(rows * d, 1.0));
    let (dx, dw, db) = r::layernorm::backward(&x, &w, &dy, rows, d, eps);
    let f = |x: &[f64], w: &[f64], b: &[f64]| dot(&dy, &r::layernorm::forward(x, w, b, rows, d, eps).0);
    check("ln dx", &dx, &numeric_grad(&x, |x| f(x, &w, &b)));
    check("ln dw", &dw, &numeric_grad(&w, |w| f(&x, w, &b)));
    check("ln db", &db, &numeric_grad(&b, |b| f(&x, &w, b)));
}

#[test]
fn softmax_gelu_and_residual_backward_by_finite_differences() {
    let mut rng = Rng::new(102);
    let (rows, cols, inv_t) = (2, 9, 1.0 / 0.3);
    let (x, dy) = (rng.vec(rows * cols, 1.0), rng.vec(rows * cols, 1.0));
    let y = r::softmax::forward(&x, rows, cols, inv_t);
    check(
        "softmax dx",
        &r::softmax::backward(&y, &dy, rows, cols, inv_t),
        &numeric_grad(&x, |x| dot(&dy, &r::softmax::forward(x, rows, cols, inv_t))),
    );
    let xg = rng.vec(50, 4.0);
    let dyg = rng.vec(50, 1.0);
    check("gelu dx", &r::gelu::backward(&xg, &dyg), &numeric_grad(&xg, |x| dot(&dyg, &r::gelu::forward(x))));
    let (a, b) = (rng.vec(5, 1.0), rng.vec(5, 1.0));
    let dy5 = rng.vec(5, 1.0);
    let (da, db) = r::elementwise::add_scaled_backward(&dy5, 1.0, 0.3);
    check("add da", &da, &numeric_grad(&a, |a| dot(&dy5, &r::elementwise::add_scaled(a, &b, 1.0, 0.3))));
    check("add db", &db, &numeric_grad(&b, |b| dot(&dy5, &r::elementwise::add_scaled(&a, b, 1.0, 0.3))));
}

#[test]
fn l2norm_and_weight_norm_backward_by_finite_differences() {
    let mut rng = Rng::new(103);
    let (rows, d) = (3, 6);
    let (x, dy) = (rng.vec(rows * d, 1.0), rng.vec(rows * d, 1.0));
    check(
        "l2norm dx",
        &r::l2norm::backward(&x, &dy, rows, d, 1e-12),
        &numeric_grad(&x, |x| dot(&dy, &r::l2norm::forward(x, rows, d, 1e-12).0)),
    );
    let (g, v) = (rng.vec(rows, 2.0), rng.vec(rows * d, 1.0));
    let (dg, dv) = r::weight_norm::backward(&g, &v, &dy, rows, d);
    check("wn dg", &dg, &numeric_grad(&g, |g| dot(&dy, &r::weight_norm::forward(g, &v, rows, d))));
    check("wn dv", &dv, &numeric_grad(&v, |v| dot(&dy, &r::weight_norm::forward(&g, v, rows, d))));
}

#[test]
fn attention_backward_by_finite_differences_every_mode() {
    let mut rng = Rng::new(104);
    for mode in QueryAttends::ALL_MODES {
        for bidirectional in [false, true] {
            let s = AttentionShape {
                batch: 2,
                tokens: 6,
                heads: 2,
                head_dim: 3,
                n_base: 4,
                query_attends: mode,
                bidirectional,
            };
            let (qkv, dout) = (rng.vec(s.qkv_len(), 1.0), rng.vec(s.out_len(), 1.0));
            check(
                &format!("attention dqkv {mode:?} bi {bidirectional}"),
                &r::attention::backward(&s, &qkv, &dout),
                &numeric_grad(&qkv, |q| dot(&dout, &r::attention::forward(&s, q).0)),
            );
        }
    }
}

#[test]
fn dino_student_gradient_by_finite_differences() {
    let mut rng = Rng::new(105);
    let sh = DinoShape { n_teacher: 2, n_student: 3, k: 8, tau_t: 0.04, tau_s: 0.1 };
    let pairs = [(0, 1), (0, 2), (1, 0), (1, 2)];
    let (t, s, c) = (rng.vec(16, 1.0), rng.vec(24, 1.0), rng.vec(8, 0.2));
    check(
        "dino ds",
        &r::dino::grad_student(&sh, &t, &s, &c, &pairs, 0.5),
        &numeric_grad(&s, |s| 0.5 * r::dino::loss(&sh, &t, s, &c, &pairs)),
    );
}

#[test]
fn dino_loss_known_values() {
    // Uniform teacher and student over K: H = log K for every pair, whatever the centre.
    let k = 16;
    let sh = DinoShape { n_teacher: 1, n_student: 1, k, tau_t: 0.04, tau_s: 0.1 };
    let l = r::dino::loss(&sh, &vec![0.3; k], &vec![-1.0; k], &vec![0.1; k], &[(0, 0)]);
    assert!((l - (k as f64).ln()).abs() < 1e-12, "{l}");
    // A one-hot teacher: H = -log_softmax(s / tau_s) at the hot index.
    let mut t = vec![0.0; k];
    t[3] = 10.0;
    let s: Vec<f64> = (0..k).map(|i| i as f64 * 0.01).collect();
    let l = r::dino::loss(&sh, &t, &s, &vec![0.0; k], &[(0, 0)]);
    let lse = s.iter().map(|v| (v / 0.1).exp()).sum::<f64>().ln();
    assert!((l - (lse - s[3] / 0.1)).abs() < 1e-6, "{l}");
}

#[test]
fn adamw_first_step_moves_by_lr_times_sign() {
    // At step 1, m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr sign(g).
    let opt = r::optim::AdamW { lr: 0.01, weight_decay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let seg = |offset, decay| r::optim::Segment { offset, len: 2, decay, lr_scale: 1.0, step: 1 };
    let segments = [seg(0, true), seg(2, false)];
    let grads = [0.5, -2.0, 3.0, -0.25];
    let mut p = [1.0, 1.0, 1.0, 1.0];
    let (mut m, mut v) = ([0.0; 4], [0.0; 4]);
    let clip = r::optim::clip_scales(&grads, &segments, 0.0);
    r::optim::adamw_step(&opt, &segments, &clip, &grads, &mut p, &mut m, &mut v);
    let decayed = 1.0 - 0.01 * 0.1;
    let want = [decayed - 0.01, decayed + 0.01, 1.0 - 0.01, 1.0 + 0.01];
    for (got, want) in p.iter().zip(want) {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
    // Clipping: norm of [3, 4] is 5; max 1 gives scale 1 / (5 + 1e-6).
    let c = r::optim::clip_scales(&[3.0, 4.0], &[seg(0, true)], 1.0);
    assert!((c[0].0 - 1.0 / (5.0 + 1e-6)).abs() < 1e-12 && (c[0].1 - 5.0).abs() < 1e-12);
}

#[test]
fn tokens_gather_and_residual_backward_by_finite_differences() {
    use adclr_wgpu::reference::tokens::{self as t, TokenShape};
    use adclr_wgpu::reference::{residual, rows};
    let mut rng = Rng::new(106);
    let s = TokenShape { images: 2, patches: 3, queries: 2, dim: 4 };
    let (cls, pos) = (rng.vec(4, 1.0), rng.vec(16, 1.0));
    let (pp, qp) = (rng.vec(24, 1.0), rng.vec(16, 1.0));
    let dx = rng.vec(s.x_len(), 1.0);
    let (dcls, dpos, dpatch, dquery) = t::backward(&s, &dx);
    check("dcls", &dcls, &numeric_grad(&cls, |c| dot(&dx, &t::assemble(&s, c, &pos, &pp, &qp))));
    check("dpos", &dpos, &numeric_grad(&pos, |p| dot(&dx, &t::assemble(&s, &cls, p, &pp, &qp))));
    check("dpatch", &dpatch, &numeric_grad(&pp, |p| dot(&dx, &t::assemble(&s, &cls, &pos, p, &qp))));
    check("dquery", &dquery, &numeric_grad(&qp, |q| dot(&dx, &t::assemble(&s, &cls, &pos, &pp, q))));
    let src = rng.vec(5 * 3, 1.0);
    let idx = [4, 0, 2];
    let dout = rng.vec(9, 1.0);
    check("scatter", &rows::scatter(&dout, &idx, 5, 3), &numeric_grad(&src, |x| dot(&dout, &rows::gather(x, &idx, 3))));
    let (x, br, scale) = (rng.vec(12, 1.0), rng.vec(12, 1.0), vec![0.0, 2.0]);
    let dy = rng.vec(12, 1.0);
    check(
        "residual dbranch",
        &residual::branch_grad(&dy, &scale, 3, 2),
        &numeric_grad(&br, |b| dot(&dy, &residual::add(&x, b, &scale, 3, 2))),
    );
    check("residual dx", &dy, &numeric_grad(&x, |x| dot(&dy, &residual::add(x, &br, &scale, 3, 2))));
}
