use crate::common::*;
use adclr_wgpu::gpu::Alloc;
use adclr_wgpu::ops::dino::{centre_update, DinoLoss, DinoShape};
use adclr_wgpu::ops::health::Health;
use adclr_wgpu::reference;

/// DINO multi-crop pairing for `batch` images, 2 global + `locals` local crops, rows ordered
/// crop-major (row = crop * batch + image): every student crop against each teacher global
/// crop except the same view.
fn multicrop_pairs(batch: usize, locals: usize) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for tv in 0..2 {
        for sv in 0..2 + locals {
            if sv == tv {
                continue;
            }
            for img in 0..batch {
                pairs.push((tv * batch + img, sv * batch + img));
            }
        }
    }
    pairs
}

#[test]
fn dino_loss_gradient_and_centre_match_reference() {
    let e = engine();
    let mut rng = Rng::new(12);
    for (batch, locals, k, weight) in
        [(2usize, 1usize, 64usize, 1.0f32), (1, 0, 1, 0.5), (3, 2, 300, 0.5), (2, 0, 4097, 1.0)]
    {
        let pairs = multicrop_pairs(batch, locals);
        let sh = DinoShape { n_teacher: 2 * batch, n_student: (2 + locals) * batch, k, tau_t: 0.04, tau_s: 0.1 };
        let teacher = f32_exact(&rng.vec(sh.n_teacher * k, 1.0));
        let student = f32_exact(&rng.vec(sh.n_student * k, 1.0));
        let centre = f32_exact(&rng.vec(k, 0.3));
        let (gt, gs, gc) = (upload("teacher", &teacher), upload("student", &student), upload("centre", &centre));
        let grad = zeros("grad", sh.n_student * k);
        let term = DinoLoss::new(&mut Alloc::new(e), "test", sh, &pairs, &gt, &gs, &gc, &grad, weight).unwrap();
        let health = Health::new(e).unwrap();
        let centre_d = centre_update(e, &gt, &gc, &health.flag, k, 0.9).unwrap();
        let mut all: Vec<_> = term.forward.iter().collect();
        all.push(&centre_d);
        e.run(&all).unwrap();
        let loss = download(&term.loss)[0];
        let want = reference::dino::loss(&sh, &teacher, &student, &centre, &pairs);
        assert_close(&format!("dino loss k {k}"), &[loss], &[want], 1e-5, 1e-5);
        let want_grad = reference::dino::grad_student(&sh, &teacher, &student, &centre, &pairs, weight as f64);
        assert_close(&format!("dino grad k {k}"), &download(&grad), &want_grad, 1e-5, 1e-4);
        // The student logits are only read.
        assert_eq!(download(&gs), student, "student logits changed");
        let want_c = reference::dino::centre_update(&centre, &teacher, sh.n_teacher, k, 0.9);
        assert_close(&format!("centre k {k}"), &download(&gc), &want_c, 1e-6, 1e-5);
    }
}

#[test]
fn query_pairing_with_its_own_weight() {
    // Query term: query i of view A (student) against query i of view B (teacher), both
    // directions: rows = view * (batch * q) + image * q + i.
    let e = engine();
    let mut rng = Rng::new(13);
    let (batch, q, k) = (2usize, 3usize, 96usize);
    let nq = batch * q;
    let pairs: Vec<(usize, usize)> = (0..nq).flat_map(|r| [(nq + r, r), (r, nq + r)]).collect();
    let sh = DinoShape { n_teacher: 2 * nq, n_student: 2 * nq, k, tau_t: 0.07, tau_s: 0.1 };
    let teacher = f32_exact(&rng.vec(sh.n_teacher * k, 2.0));
    let student = f32_exact(&rng.vec(sh.n_student * k, 2.0));
    let centre = vec![0.0; k];
    let (gt, gs, gc) = (upload("teacher", &teacher), upload("student", &student), upload("centre", &centre));
    let grad = zeros("grad", sh.n_student * k);
    let term = DinoLoss::new(&mut Alloc::new(e), "query", sh, &pairs, &gt, &gs, &gc, &grad, 0.5).unwrap();
    e.run(&term.forward.iter().collect::<Vec<_>>()).unwrap();
    let want = reference::dino::loss(&sh, &teacher, &student, &centre, &pairs);
    assert_close("query loss", &download(&term.loss), &[want], 1e-5, 1e-5);
    let want_grad = reference::dino::grad_student(&sh, &teacher, &student, &centre, &pairs, 0.5);
    assert_close("query grad", &download(&grad), &want_grad, 1e-5, 1e-4);
}
