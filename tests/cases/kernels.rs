//! Every kernel family a browser runs, forward and backward, against the CPU reference on
//! awkward shapes (not tile multiples, size-1 dimensions, every ADCLR mask mode), on both
//! kernel choices a browser takes where a family has variants (`engines`: those of
//! `support::BROWSER_ENGINES`, in order). Not here: the f16, subgroup and cooperative-matrix
//! variants (wgpu 30 maps no subgroups on WebGPU; SwiftShader has no shader-f16) and the loss
//! scaler, which only f16-mixed runs; tests/gpu holds those and deeper cases of each op.

use super::support::*;
use adclr_wgpu::gpu::{Alloc, Engine, GpuTensor};
use adclr_wgpu::ops::attention::{self, AttentionShape};
use adclr_wgpu::ops::dino::{centre_update, DinoLoss, DinoShape};
use adclr_wgpu::ops::health::{Health, HealthState};
use adclr_wgpu::ops::loss_scale::{LossScale, LossScaleRule};
use adclr_wgpu::ops::matmul::{self, MatmulShape};
use adclr_wgpu::ops::optim::{ema, AdamW, FlatLayout, Optimizer};
use adclr_wgpu::ops::{elementwise, gelu, l2norm, layernorm, reduce, residual, rows, softmax, tokens, weight_norm};
use adclr_wgpu::reference;
use adclr_wgpu::spec::config::QueryAttends;

pub async fn matmul_every_layout_forward_and_backward(engines: &[&Engine]) {
    for &e in engines {
        let mut data = Data::new(1);
        for (batch, m, n, k) in [(1, 1, 1, 1), (1, 65, 67, 17), (2, 131, 133, 9), (1, 36, 44, 20), (2, 140, 36, 12)] {
            for flags in 0..9u32 {
                let mut s = MatmulShape::new(batch, m, n, k);
                s.trans_a = flags & 1 != 0;
                s.trans_b = flags & 2 != 0;
                s.broadcast_b = flags & 4 != 0;
                s.broadcast_a = flags == 8;
                let what = format!("{s:?} on {:?}", e.choice);
                let (a, b, bias, dc) =
                    (data.vec(s.a_len(), 1.0), data.vec(s.b_len(), 1.0), data.vec(s.n, 1.0), data.vec(s.c_len(), 1.0));
                let (ga, gb, gbias, gc) =
                    (upload(e, "a", &a), upload(e, "b", &b), upload(e, "bias", &bias), zeros(e, "c", s.c_len()));
                e.run(&[&matmul::forward(e, &s, &ga, &gb, Some(&gbias), &gc, 0.5, false).unwrap()]).unwrap();
                let want = reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5);
                assert_close(&format!("matmul {what}"), &download(e, &gc).await, &want, 1e-5, 1e-4);
                if s.broadcast_a {
                    continue;
                }
                let gdc = upload(e, "dc", &dc);
                let (gda, gdb, gdbias) = (zeros(e, "da", s.a_len()), zeros(e, "db", s.b_len()), zeros(e, "dbias", s.n));
                let ds =
                    matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), Some(&gdbias), 0.5, false).unwrap();
                run(e, &ds);
                let (da, db, dbias) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
                assert_close(&format!("dA {what}"), &download(e, &gda).await, &da, 1e-4, 1e-4);
                assert_close(&format!("dB {what}"), &download(e, &gdb).await, &db, 1e-4, 1e-4);
                assert_close(&format!("dbias {what}"), &download(e, &gdbias).await, &dbias, 1e-4, 1e-4);
            }
        }
    }
}

pub async fn attention_every_mask_mode_forward_and_backward(engines: &[&Engine]) {
    for &e in engines {
        let mut data = Data::new(10);
        // (batch, base tokens, queries, heads, head dim): head dim 64 takes the shared-memory kernels.
        for (batch, n_base, q, heads, head_dim) in
            [(2, 5, 3, 2, 8), (1, 1, 2, 1, 1), (2, 10, 1, 1, 33), (2, 60, 9, 2, 64)]
        {
            for query_attends in QueryAttends::ALL_MODES {
                for bidirectional in [false, true] {
                    let s = AttentionShape {
                        batch,
                        tokens: n_base + q,
                        heads,
                        head_dim,
                        n_base,
                        query_attends,
                        bidirectional,
                    };
                    let (qkv, dout) = (data.vec(s.qkv_len(), 1.5), data.vec(s.out_len(), 1.0));
                    let (gqkv, gout, glse) =
                        (upload(e, "qkv", &qkv), zeros(e, "out", s.out_len()), zeros(e, "lse", s.lse_len()));
                    let (gdout, gdqkv) = (upload(e, "dout", &dout), zeros(e, "dqkv", s.qkv_len()));
                    let fwd = attention::forward(e, &s, &gqkv, &gout, &glse).unwrap();
                    let bwd = attention::backward(e, &s, &gqkv, &gout, &glse, &gdout, &gdqkv).unwrap();
                    e.run(&[&fwd, &bwd[0], &bwd[1]]).unwrap();
                    let what = format!("{s:?} ({}, {}, {})", fwd.kernel, bwd[0].kernel, bwd[1].kernel);
                    let (out, lse) = reference::attention::forward(&s, &qkv);
                    assert_close(&format!("attention out {what}"), &download(e, &gout).await, &out, 1e-5, 1e-4);
                    assert_close(&format!("attention lse {what}"), &download(e, &glse).await, &lse, 1e-5, 1e-4);
                    let dqkv = reference::attention::backward(&s, &qkv, &dout);
                    assert_close(&format!("attention dqkv {what}"), &download(e, &gdqkv).await, &dqkv, 1e-5, 1e-3);
                }
            }
        }
    }
}

pub async fn layernorm_and_residual_layernorm_forward_and_backward(engines: &[&Engine]) {
    for &e in engines {
        let mut data = Data::new(6);
        for (rows, d) in [(1usize, 1usize), (67, 192), (3, 300), (1000, 37)] {
            let n = rows * d;
            let x: Vec<f64> = data.vec(n, 3.0).iter().map(|v| (v + 0.5) as f32 as f64).collect();
            let (w, b, dy) = (data.vec(d, 1.0), data.vec(d, 1.0), data.vec(n, 1.0));
            let (gx, gw, gb) = (upload(e, "x", &x), upload(e, "w", &w), upload(e, "b", &b));
            let (gy, gm, gr) = (zeros(e, "y", n), zeros(e, "mean", rows), zeros(e, "rstd", rows));
            e.run(&[&layernorm::forward(e, &gx, &gw, &gb, &gy, &gm, &gr, 1e-6).unwrap()]).unwrap();
            let (y, mean, rstd) = reference::layernorm::forward(&x, &w, &b, rows, d, 1e-6);
            assert_close("layernorm y", &download(e, &gy).await, &y, 1e-5, 1e-4);
            assert_close("layernorm mean", &download(e, &gm).await, &mean, 1e-6, 1e-5);
            assert_close("layernorm rstd", &download(e, &gr).await, &rstd, 1e-5, 1e-4);
            let (gdy, gdx, gdw, gdb) = (upload(e, "dy", &dy), zeros(e, "dx", n), zeros(e, "dw", d), zeros(e, "db", d));
            run(e, &layernorm::backward(e, &gx, &gw, &gm, &gr, &gdy, &gdx, &gdw, &gdb, false).unwrap());
            let (dx, dw, db) = reference::layernorm::backward(&x, &w, &dy, rows, d, 1e-6);
            assert_close("layernorm dx", &download(e, &gdx).await, &dx, if d == 1 { 1e-3 } else { 1e-5 }, 1e-3);
            assert_close("layernorm dw", &download(e, &gdw).await, &dw, 1e-4, 1e-4);
            assert_close("layernorm db", &download(e, &gdb).await, &db, 1e-5, 1e-5);
        }
        // The residual add (sample 0 dropped) fused with the next LayerNorm; 1030 is past a workgroup.
        for (samples, rows_per, d) in [(3usize, 5usize, 9usize), (2, 2, 1030)] {
            let (n, rows) = (samples * rows_per * d, samples * rows_per);
            let (x, br, w, b) = (data.vec(n, 2.0), data.vec(n, 1.0), data.vec(d, 1.0), data.vec(d, 1.0));
            let mut table = vec![7.0, 0.0];
            table.extend((1..samples).map(|s| 1.0 + 0.25 * s as f64));
            let (gx, gbr, gs) = (upload(e, "x", &x), upload(e, "branch", &br), upload(e, "scale", &table));
            let (gw, gbias, gout, gy) = (upload(e, "w", &w), upload(e, "b", &b), zeros(e, "out", n), zeros(e, "y", n));
            let (gm, gr) = (zeros(e, "mean", rows), zeros(e, "rstd", rows));
            let norm = residual::NextNorm { w: &gw, b: &gbias, eps: 1e-6, y: &gy, mean: &gm, rstd: &gr };
            let scale = residual::SampleScale { scale: &gs, offset: 1 };
            run(e, &residual::add_then_layernorm(e, &gx, &gbr, scale, &gout, d, rows_per, norm).unwrap());
            let out = reference::residual::add(&x, &br, &table[1..], d, rows_per);
            assert_close("residual+LN out", &download(e, &gout).await, &out, 1e-6, 1e-6);
            let (y, _, _) = reference::layernorm::forward(&out, &w, &b, rows, d, 1e-6);
            assert_close("residual+LN y", &download(e, &gy).await, &y, 1e-5, 1e-4);
            let gd = zeros(e, "dbranch", n);
            e.run(&[&residual::branch_grad(e, &gx, scale, &gd, d, rows_per).unwrap()]).unwrap();
            let want = reference::residual::branch_grad(&x, &table[1..], d, rows_per);
            assert_close("residual dbranch", &download(e, &gd).await, &want, 1e-7, 1e-6);
        }
    }
}

pub async fn softmax_gelu_l2norm_forward_and_backward(engines: &[&Engine]) {
    // One kernel variant per family here: the portable engine alone.
    let e = engines[0];
    let mut data = Data::new(5);
    for (rows, cols, temp) in [(1usize, 1usize, 1.0f32), (3, 257, 0.1), (2, 4096, 0.07)] {
        let n = rows * cols;
        let (x, dy) = (data.vec(n, 1.0), data.vec(n, 1.0));
        let (gx, gy, gdy, gdx) = (upload(e, "x", &x), zeros(e, "y", n), upload(e, "dy", &dy), zeros(e, "dx", n));
        e.run(&[&softmax::forward(e, &gx, &gy, cols, temp).unwrap()]).unwrap();
        let y = reference::softmax::forward(&x, rows, cols, 1.0 / temp as f64);
        assert_close("softmax", &download(e, &gy).await, &y, 1e-6, 1e-4);
        e.run(&[&softmax::backward(e, &gy, &gdy, &gdx, cols, temp).unwrap()]).unwrap();
        let dx = reference::softmax::backward(&y, &dy, rows, cols, 1.0 / temp as f64);
        assert_close("softmax backward", &download(e, &gdx).await, &dx, 1e-5, 1e-3);
    }
    for n in [1usize, 4099] {
        let (x, dy) = (data.vec(n, 6.0), data.vec(n, 1.0));
        let (gx, gy, gdy, gdx) = (upload(e, "x", &x), zeros(e, "y", n), upload(e, "dy", &dy), zeros(e, "dx", n));
        e.run(&[&gelu::forward(e, &gx, &gy).unwrap(), &gelu::backward(e, &gx, &gdy, &gdx, false).unwrap()]).unwrap();
        assert_close("gelu", &download(e, &gy).await, &reference::gelu::forward(&x), 1e-6, 1e-5);
        assert_close("gelu backward", &download(e, &gdx).await, &reference::gelu::backward(&x, &dy), 1e-6, 1e-5);
    }
    for (rows, d) in [(1usize, 1usize), (3, 333)] {
        let n = rows * d;
        let (x, dy) = (data.vec(n, 1.0), data.vec(n, 1.0));
        let (gx, gy, gn, gdy, gdx) =
            (upload(e, "x", &x), zeros(e, "y", n), zeros(e, "norm", rows), upload(e, "dy", &dy), zeros(e, "dx", n));
        e.run(&[
            &l2norm::forward(e, &gx, &gy, &gn, d).unwrap(),
            &l2norm::backward(e, &gy, &gn, &gdy, &gdx, d).unwrap(),
        ])
        .unwrap();
        let eps = l2norm::EPS as f64;
        let (y, norm) = reference::l2norm::forward(&x, rows, d, eps);
        assert_close("l2norm y", &download(e, &gy).await, &y, 1e-6, 1e-5);
        assert_close("l2norm norm", &download(e, &gn).await, &norm, 1e-6, 1e-5);
        assert_close(
            "l2norm dx",
            &download(e, &gdx).await,
            &reference::l2norm::backward(&x, &dy, rows, d, eps),
            1e-5,
            1e-4,
        );
    }
}

pub async fn weight_norm_and_column_sums(engines: &[&Engine]) {
    for &e in engines {
        let mut data = Data::new(9);
        for (rows, d) in [(1usize, 1usize), (300, 17), (2, 600)] {
            let g = data.vec(rows, 2.0);
            let v: Vec<f64> = data.vec(rows * d, 1.0).iter().map(|x| (x + 0.01) as f32 as f64).collect();
            let dw = data.vec(rows * d, 1.0);
            let (gg, gv, gw, gn) =
                (upload(e, "g", &g), upload(e, "v", &v), zeros(e, "w", rows * d), zeros(e, "vnorm", rows));
            let (gdw, gdg, gdv) = (upload(e, "dw", &dw), zeros(e, "dg", rows), zeros(e, "dv", rows * d));
            e.run(&[
                &weight_norm::forward(e, &gg, &gv, &gw, &gn).unwrap(),
                &weight_norm::backward(e, &gg, &gv, &gn, &gdw, &gdg, &gdv).unwrap(),
            ])
            .unwrap();
            assert_close(
                "weight_norm w",
                &download(e, &gw).await,
                &reference::weight_norm::forward(&g, &v, rows, d),
                1e-6,
                1e-5,
            );
            let (dg, dv) = reference::weight_norm::backward(&g, &v, &dw, rows, d);
            assert_close("weight_norm dg", &download(e, &gdg).await, &dg, 1e-5, 1e-4);
            assert_close("weight_norm dv", &download(e, &gdv).await, &dv, 1e-5, 1e-4);
        }
        for (rows, cols) in [(1usize, 1usize), (5, 300), (3000, 12)] {
            let (src, start) = (data.vec(rows * cols, 1.0), data.vec(cols, 1.0));
            let (gsrc, gdst) = (upload(e, "src", &src), upload(e, "dst", &start));
            run(e, &reduce::column_sum(e, &gsrc, &gdst, rows, cols, true).unwrap());
            let want: Vec<f64> =
                reference::reduce::column_sum(&src, rows, cols).iter().zip(&start).map(|(a, b)| a + b).collect();
            assert_close(&format!("column sum {rows}x{cols}"), &download(e, &gdst).await, &want, 1e-4, 1e-5);
        }
    }
}

pub async fn tokens_rows_and_elementwise(engines: &[&Engine]) {
    // One kernel variant per family here: the portable engine alone.
    let e = engines[0];
    let mut data = Data::new(30);
    for (images, patches, queries, dim) in [(2usize, 4usize, 3usize, 5usize), (1, 1, 0, 1)] {
        let s = reference::tokens::TokenShape { images, patches, queries, dim };
        let (cls, pos, pp) =
            (data.vec(dim, 1.0), data.vec((1 + patches) * dim, 1.0), data.vec(images * patches * dim, 1.0));
        let qp = data.vec((images * queries).max(1) * dim, 1.0);
        let (gcls, gpos, gpp, gqp) =
            (upload(e, "cls", &cls), upload(e, "pos", &pos), upload(e, "pp", &pp), upload(e, "qp", &qp));
        let gx = zeros(e, "x", s.x_len());
        e.run(&[&tokens::assemble(e, &s, &gcls, &gpos, &gpp, &gqp, &gx).unwrap()]).unwrap();
        let want = reference::tokens::assemble(&s, &cls, &pos, &pp, &qp[..images * queries * dim]);
        assert_close("assemble", &download(e, &gx).await, &want, 0.0, 1e-7);
        let dx = data.vec(s.x_len(), 1.0);
        let (gdx, gdp) = (upload(e, "dx", &dx), zeros(e, "dpatch", images * patches * dim));
        let (gdq, gdc, gdpos) = (zeros(e, "dquery", qp.len()), zeros(e, "dcls", dim), zeros(e, "dpos", pos.len()));
        run(e, &tokens::backward(e, &s, &gdx, &gdp, &gdq, &gdc, &gdpos, false).unwrap());
        let (dcls, dpos, dpatch, dquery) = reference::tokens::backward(&s, &dx);
        assert_close("dcls", &download(e, &gdc).await, &dcls, 1e-6, 1e-6);
        assert_close("dpos", &download(e, &gdpos).await, &dpos, 1e-6, 1e-6);
        assert_close("dpatch", &download(e, &gdp).await, &dpatch, 0.0, 1e-7);
        assert_close("dquery", &download(e, &gdq).await[..dquery.len()], &dquery, 0.0, 1e-7);
    }
    let (src_rows, dim, index) = (11usize, 7usize, [0usize, 10, 4, 5]);
    let src = data.vec(src_rows * dim, 1.0);
    let gidx = GpuTensor::from_u32(&e.ctx, "index", &[4], &index.map(|i| i as u32)).unwrap();
    let (gsrc, gdst, gback) = (upload(e, "src", &src), zeros(e, "dst", 6 * dim), zeros(e, "dsrc", src_rows * dim));
    e.run(&[&rows::gather(e, &gsrc, &gidx, &gdst, dim, 2).unwrap()]).unwrap();
    let got = download(e, &gdst).await;
    assert!(got[..2 * dim].iter().all(|&v| v == 0.0), "gather wrote before its offset");
    assert_close("gather", &got[2 * dim..], &reference::rows::gather(&src, &index, dim), 0.0, 0.0);
    e.run(&[&rows::scatter(e, &gdst, &gidx, &gback, dim, 2).unwrap()]).unwrap();
    let want = reference::rows::scatter(&got[2 * dim..], &index, src_rows, dim);
    assert_close("scatter", &download(e, &gback).await, &want, 0.0, 0.0);
    for n in [1usize, 70_001] {
        let (a, b) = (data.vec(n, 2.0), data.vec(n, 2.0));
        let (ga, gb, out) = (upload(e, "a", &a), upload(e, "b", &b), zeros(e, "out", n));
        e.run(&[&elementwise::add_scaled(e, &ga, &gb, &out, 1.0, -0.25).unwrap()]).unwrap();
        let want = reference::elementwise::add_scaled(&a, &b, 1.0, -0.25);
        assert_close("add_scaled", &download(e, &out).await, &want, 1e-6, 1e-6);
        e.run(&[&elementwise::scale(e, &ga, &out, 2.0, true).unwrap()]).unwrap();
        let twice: Vec<f64> = want.iter().zip(&a).map(|(x, y)| x + 2.0 * y).collect();
        assert_close("scale accumulate", &download(e, &out).await, &twice, 1e-6, 1e-6);
        e.run(&[&elementwise::fill(e, &out, 0.0).unwrap()]).unwrap();
        assert!(download(e, &out).await.iter().all(|&v| v == 0.0), "fill");
    }
}

pub async fn dino_loss_gradient_and_centre(engines: &[&Engine]) {
    // One kernel variant per family here: the portable engine alone.
    let e = engines[0];
    let mut data = Data::new(12);
    for (batch, locals, k) in [(2usize, 1usize, 64usize), (1, 0, 1), (2, 0, 4097)] {
        // Every student crop against each teacher global crop but its own view (rows crop-major).
        let pairs: Vec<(usize, usize)> = (0..2)
            .flat_map(|tv| {
                (0..2 + locals)
                    .filter(move |&sv| sv != tv)
                    .flat_map(move |sv| (0..batch).map(move |i| (tv * batch + i, sv * batch + i)))
            })
            .collect();
        let sh = DinoShape { n_teacher: 2 * batch, n_student: (2 + locals) * batch, k, tau_t: 0.04, tau_s: 0.1 };
        let (teacher, student, centre) =
            (data.vec(sh.n_teacher * k, 1.0), data.vec(sh.n_student * k, 1.0), data.vec(k, 0.3));
        let (gt, gs, gc) =
            (upload(e, "teacher", &teacher), upload(e, "student", &student), upload(e, "centre", &centre));
        let grad = zeros(e, "grad", sh.n_student * k);
        let term = DinoLoss::new(&mut Alloc::new(e), "test", sh, &pairs, &gt, &gs, &gc, &grad, 0.5).unwrap();
        let health = Health::new(e).unwrap();
        let centre_d = centre_update(e, &gt, &gc, &health.flag, k, 0.9).unwrap();
        let mut all: Vec<_> = term.forward.iter().collect();
        all.push(&centre_d);
        e.run(&all).unwrap();
        let want = reference::dino::loss(&sh, &teacher, &student, &centre, &pairs);
        assert_close(&format!("dino loss k {k}"), &download(e, &term.loss).await, &[want], 1e-5, 1e-5);
        let want_grad = reference::dino::grad_student(&sh, &teacher, &student, &centre, &pairs, 0.5);
        assert_close(&format!("dino grad k {k}"), &download(e, &grad).await, &want_grad, 1e-5, 1e-4);
        let want_c = reference::dino::centre_update(&centre, &teacher, sh.n_teacher, k, 0.9);
        assert_close(&format!("centre k {k}"), &download(e, &gc).await, &want_c, 1e-6, 1e-5);
    }
}

pub async fn clipping_adamw_ema_and_the_health_flag(engines: &[&Engine]) {
    for &e in engines {
        let mut data = Data::new(14);
        let mut lay = FlatLayout::default();
        lay.push("cls_token", 1, false);
        lay.push("blocks.0.attn.qkv.weight", 1000, true);
        lay.push("head.mlp.0.weight", 3000, true);
        let n = lay.total;
        let mut params = data.vec(n, 1.0);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        let (gp, gm, gv, gg) = (upload(e, "params", &params), zeros(e, "m", n), zeros(e, "v", n), zeros(e, "grads", n));
        let mut opt = AdamW { lr: 1e-2, weight_decay: 0.04, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
        let health = Health::new(e).unwrap();
        let scaler = LossScale::new(e, LossScaleRule::NONE).unwrap();
        let optimizer =
            Optimizer::new(&mut Alloc::new(e), &lay, &opt, 3.0, &gg, &gp, &gm, &gv, &health.flag, &scaler).unwrap();
        for step in 1..=2u64 {
            // The last tensor's gradients are large enough to be clipped, the others' are not.
            let mut grads = data.vec(n, 0.05);
            let big = lay.segments[2].offset;
            grads[big..].iter_mut().for_each(|g| *g = (*g * 100.0) as f32 as f64);
            lay.segments.iter_mut().for_each(|s| s.step += 1);
            opt.lr *= 0.9;
            gg.write_f32(&e.ctx, &grads.iter().map(|&x| x as f32).collect::<Vec<_>>()).unwrap();
            optimizer.set_step(e, &lay, &opt).unwrap();
            e.run(&optimizer.dispatches.iter().collect::<Vec<_>>()).unwrap();
            let clip = reference::optim::clip_scales(&grads, &lay.segments, 3.0);
            assert!(clip[2].0 < 1.0 && clip[0].0 == 1.0, "the data must clip one tensor and not another");
            reference::optim::adamw_step(&opt, &lay.segments, &clip, &grads, &mut params, &mut m, &mut v);
            assert_close(&format!("params step {step}"), &download(e, &gp).await, &params, 1e-6, 1e-5);
            assert_close(&format!("m step {step}"), &download(e, &gm).await, &m, 1e-7, 1e-5);
            assert_close(&format!("v step {step}"), &download(e, &gv).await, &v, 1e-9, 1e-4);
        }
        let mut teacher = data.vec(n, 1.0);
        let gt = upload(e, "teacher", &teacher);
        e.run(&[&ema(e, &gp, &gt, &health.flag, 0.996).unwrap()]).unwrap();
        reference::optim::ema(&mut teacher, &params, 0.996);
        assert_close("ema", &download(e, &gt).await, &teacher, 1e-7, 1e-6);
        // A NaN turns the flag off with its code and step; what follows keeps the first failure.
        let mut values: Vec<f64> = (0..300).map(|i| [f32::MAX as f64, 0.0, 1e-45, -3.5][i % 4]).collect();
        let fine = upload(e, "finite", &values);
        values[299] = f64::NAN;
        let bad = upload(e, "with NaN", &values);
        let (c1, c2) = (health.check(e, &fine, 1).unwrap(), health.check(e, &bad, 2).unwrap());
        Health::set_step(e, &c2, values.len(), 2, 5).unwrap();
        e.run(&[&c1, &c2, &c1]).unwrap();
        assert_eq!(health.read_async(e).await.unwrap(), HealthState::Failed { code: 2, step: 5 });
    }
}
