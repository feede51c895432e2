use crate::common::*;
use adclr_wgpu::gpu::tune::MatmulConfig;
use adclr_wgpu::gpu::KernelPolicy;
use adclr_wgpu::gpu::{AdapterChoice, Engine, GpuTensor};
use adclr_wgpu::ops::matmul::{self, MatmulShape};
use adclr_wgpu::reference;

const SHAPES: &[(usize, usize, usize, usize)] =
    &[(1, 1, 1, 1), (1, 65, 67, 17), (3, 33, 70, 129), (2, 1, 64, 5), (1, 130, 3, 64), (2, 131, 133, 9)];

/// Every transpose / broadcast-B combination of each (batch, m, n, k), plus broadcast A
/// when asked.
fn variants(dims: &[(usize, usize, usize, usize)], broadcast_a: bool) -> Vec<MatmulShape> {
    let mut out = Vec::new();
    for &(batch, m, n, k) in dims {
        for flags in 0..8u32 {
            let mut s = MatmulShape::new(batch, m, n, k);
            s.trans_a = flags & 1 != 0;
            s.trans_b = flags & 2 != 0;
            s.broadcast_b = flags & 4 != 0;
            out.push(s);
        }
        if broadcast_a {
            let mut s = MatmulShape::new(batch, m, n, k);
            s.broadcast_a = true;
            out.push(s);
        }
    }
    out
}

fn shapes() -> Vec<MatmulShape> {
    variants(SHAPES, true)
}

/// Shapes whose layouts take the vec4 kernels (K, N and M multiples of 4) with edges that
/// are not multiples of the 64 x 32 and 128 x 32 blocks.
fn aligned_shapes() -> Vec<MatmulShape> {
    variants(&[(1, 36, 44, 20), (2, 4, 68, 8), (3, 40, 4, 132), (2, 140, 36, 12), (2, 37, 12, 8)], false)
}

#[test]
fn matmul_forward_matches_reference() {
    for e in engines() {
        forward_on(e);
    }
}

fn forward_on(e: &adclr_wgpu::gpu::Engine) {
    let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
    let download = |t: &GpuTensor| download_on(e, t);
    let mut rng = Rng::new(1);
    for s in shapes().into_iter().chain(aligned_shapes()) {
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let bias = f32_exact(&rng.vec(s.n, 1.0));
        let c0 = f32_exact(&rng.vec(s.c_len(), 1.0));
        let (ga, gb, gbias) = (upload("a", &a), upload("b", &b), upload("bias", &bias));
        let gc = upload("c", &c0);
        let d1 = matmul::forward(e, &s, &ga, &gb, Some(&gbias), &gc, 0.5, false).unwrap();
        e.run(&[&d1]).unwrap();
        let want = reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5);
        assert_close(&format!("matmul {s:?}"), &download(&gc), &want, 1e-5, 1e-4);
        // accumulate: c += op(a) op(b)
        let d2 = matmul::forward(e, &s, &ga, &gb, None, &gc, 1.0, true).unwrap();
        e.run(&[&d2]).unwrap();
        let plain = reference::matmul::forward(&s, &a, &b, None, 1.0);
        let want2: Vec<f64> = want.iter().zip(&plain).map(|(x, y)| x + y).collect();
        assert_close(&format!("matmul accumulate {s:?}"), &download(&gc), &want2, 1e-5, 1e-4);
    }
}

#[test]
fn matmul_backward_matches_reference() {
    for e in engines() {
        backward_on(e);
    }
}

fn backward_on(e: &adclr_wgpu::gpu::Engine) {
    let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
    let download = |t: &GpuTensor| download_on(e, t);
    let zeros = |n: &str, len: usize| zeros_on(e, n, len);
    let mut rng = Rng::new(2);
    for s in shapes().into_iter().chain(aligned_shapes()) {
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
        let (ga, gb, gdc) = (upload("a", &a), upload("b", &b), upload("dc", &dc));
        let (gda, gdb, gdbias) = (zeros("da", s.a_len()), zeros("db", s.b_len()), zeros("dbias", s.n));
        let ds = matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), Some(&gdbias), 0.5, false).unwrap();
        e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
        let (da, db, dbias) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
        assert_close(&format!("dA {s:?}"), &download(&gda), &da, 1e-4, 1e-4);
        assert_close(&format!("dB {s:?}"), &download(&gdb), &db, 1e-4, 1e-4);
        assert_close(&format!("dbias {s:?}"), &download(&gdbias), &dbias, 1e-4, 1e-4);
    }
}

/// Weight and bias gradients reduced over many rows: split-K products and two-pass column
/// sums on the GPU policies (checked to be taken), one pass on the CPU-driver policies.
#[test]
fn weight_gradients_over_many_rows_match_reference() {
    for e in engines() {
        let mut rng = Rng::new(4);
        for (m, n, k, trans_b) in [(3000, 12, 20, true), (2048, 36, 8, false), (1100, 5, 3, true)] {
            let mut s = MatmulShape::new(1, m, n, k);
            s.trans_b = trans_b;
            let (rows, cols) = if trans_b { (n, k) } else { (k, n) };
            if e.scratch.is_some() {
                assert!(matmul::split_k(e, rows, cols, m) > 1, "{s:?} should be split on {:?}", e.policy());
                assert!(adclr_wgpu::ops::reduce::row_chunks(e, m, n).0 > 1, "{s:?} bias in one pass");
            }
            let a = f32_exact(&rng.vec(s.a_len(), 1.0));
            let b = f32_exact(&rng.vec(s.b_len(), 1.0));
            let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
            let (ga, gb, gdc) = (upload_on(e, "a", &a), upload_on(e, "b", &b), upload_on(e, "dc", &dc));
            let (gdb, gdbias) = (zeros_on(e, "db", s.b_len()), zeros_on(e, "dbias", s.n));
            let (_, db, dbias) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
            for (accumulate, times) in [(false, 1.0), (true, 2.0)] {
                let ds =
                    matmul::backward(e, &s, &ga, &gb, &gdc, None, Some(&gdb), Some(&gdbias), 0.5, accumulate).unwrap();
                e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
                let scaled = |v: &[f64]| v.iter().map(|x| x * times).collect::<Vec<_>>();
                assert_close(&format!("dB {s:?} x{times}"), &download_on(e, &gdb), &scaled(&db), 2e-3, 1e-4);
                assert_close(&format!("dbias {s:?} x{times}"), &download_on(e, &gdbias), &scaled(&dbias), 2e-3, 1e-4);
            }
        }
    }
}

#[test]
fn matmul_with_other_tile_k_override() {
    for (policy, tile_k) in [(KernelPolicy::Tiled, 8), (KernelPolicy::Tiled, 32), (KernelPolicy::Large, 8)] {
        let config = MatmulConfig { policy, tile_k };
        let e = Engine::open_with_config(&AdapterChoice::default(), config).unwrap();
        let mut rng = Rng::new(3);
        let mut s = MatmulShape::new(2, 130, 129, 37);
        s.trans_b = true;
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let ga =
            GpuTensor::from_f32(&e.ctx, "a", &[a.len()], &a.iter().map(|&x| x as f32).collect::<Vec<_>>()).unwrap();
        let gb =
            GpuTensor::from_f32(&e.ctx, "b", &[b.len()], &b.iter().map(|&x| x as f32).collect::<Vec<_>>()).unwrap();
        let gc = GpuTensor::zeros(&e.ctx, "c", &[s.c_len()]).unwrap();
        e.run(&[&matmul::forward(&e, &s, &ga, &gb, None, &gc, 1.0, false).unwrap()]).unwrap();
        let got: Vec<f64> = gc.read_f32(&e.ctx).unwrap().iter().map(|&x| x as f64).collect();
        let want = reference::matmul::forward(&s, &a, &b, None, 1.0);
        assert_close(&format!("matmul {policy:?} TILE_K {tile_k}"), &got, &want, 1e-5, 1e-4);
    }
}

#[test]
fn matmul_gelu_epilogues_match_reference() {
    for e in engines() {
        let upload = |n: &str, x: &[f64]| upload_on(e, n, x);
        let mut rng = Rng::new(4);
        for s in shapes().into_iter().chain(aligned_shapes()).filter(|s| !s.trans_a && !s.broadcast_a) {
            let a = f32_exact(&rng.vec(s.a_len(), 1.0));
            let b = f32_exact(&rng.vec(s.b_len(), 1.0));
            let bias = f32_exact(&rng.vec(s.n, 1.0));
            let (ga, gb, gbias) = (upload("a", &a), upload("b", &b), upload("bias", &bias));
            // Forward: c = pre-activation (bias included), out = GELU(c).
            let (gc, gout) = (zeros_on(e, "c", s.c_len()), zeros_on(e, "gelu", s.c_len()));
            let epilogue = matmul::Epilogue::Gelu { out: &gout };
            e.run(&[&matmul::forward_with(e, &s, (&ga, &gb, Some(&gbias)), &gc, 0.5, false, epilogue).unwrap()])
                .unwrap();
            let pre = reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5);
            assert_close(&format!("matmul+GELU pre {s:?}"), &download_on(e, &gc), &pre, 1e-5, 1e-4);
            let want = reference::gelu::forward(&pre);
            assert_close(&format!("matmul+GELU out {s:?}"), &download_on(e, &gout), &want, 1e-5, 1e-4);
            // Backward: da = (0.5 dc op(b)^T) * gelu'(pre_a), pre_a shaped like a.
            let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
            let pre_a = f32_exact(&rng.vec(s.a_len(), 2.0));
            let (gdc, gpre, gda) = (upload("dc", &dc), upload("pre", &pre_a), zeros_on(e, "da", s.a_len()));
            e.run(&[&matmul::backward_input_gelu(e, &s, &gb, &gdc, &gda, &gpre, 0.5).unwrap()]).unwrap();
            let (da, _, _) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
            let want = reference::gelu::backward(&pre_a, &da);
            assert_close(&format!("matmul GELU grad {s:?}"), &download_on(e, &gda), &want, 1e-4, 1e-4);
        }
    }
}

#[test]
fn gelu_epilogue_refuses_accumulation_and_transposed_a() {
    let e = engine();
    let mut s = MatmulShape::new(1, 4, 8, 4);
    let (a, b, c, out) = (zeros_on(e, "a", 16), zeros_on(e, "b", 32), zeros_on(e, "c", 32), zeros_on(e, "o", 32));
    let epilogue = matmul::Epilogue::Gelu { out: &out };
    assert!(matmul::forward_with(e, &s, (&a, &b, None), &c, 1.0, true, epilogue).is_err());
    let short = zeros_on(e, "short", 31);
    let epilogue = matmul::Epilogue::Gelu { out: &short };
    assert!(matmul::forward_with(e, &s, (&a, &b, None), &c, 1.0, false, epilogue).is_err());
    s.trans_a = true;
    assert!(matmul::backward_input_gelu(e, &s, &b, &c, &a, &a, 1.0).is_err());
}

/// The subgroup kernels read A and B from textures of 4096 texels per row: operands spanning
/// several rows (the last one partial), batches and broadcast weights, every layout they take
/// (checked to be taken), forward and both gradients.
#[test]
fn subgroup_kernels_read_operands_spanning_several_texture_rows() {
    let Some(e) = engines().into_iter().find(|e| e.policy() == KernelPolicy::Subgroup) else {
        eprintln!("note: no 8-lane subgroups on this adapter; the texture-reading kernels are not tested");
        return;
    };
    let mut rng = Rng::new(7);
    // A of (1, 300, 68, 132) is 9.7 texture rows; B of (2, 132, 260, 68) 8.6 unbroadcast.
    for s in variants(&[(1, 300, 68, 132), (2, 132, 260, 68)], false) {
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
        let (ga, gb, gdc) = (upload_on(e, "a", &a), upload_on(e, "b", &b), upload_on(e, "dc", &dc));
        let gc = zeros_on(e, "c", s.c_len());
        let (gda, gdb) = (zeros_on(e, "da", s.a_len()), zeros_on(e, "db", s.b_len()));
        let forward = matmul::forward(e, &s, &ga, &gb, None, &gc, 0.5, false).unwrap();
        let backward = matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), None, 0.5, false).unwrap();
        if !(s.trans_a && s.trans_b) {
            assert!(forward.kernel.starts_with("matmul_sg_"), "{s:?} ran {}", forward.kernel);
        }
        let mut all = vec![&forward];
        all.extend(backward.iter());
        e.run(&all).unwrap();
        let want = reference::matmul::forward(&s, &a, &b, None, 0.5);
        assert_close(&format!("texture matmul {s:?}"), &download_on(e, &gc), &want, 1e-5, 1e-4);
        let (da, db, _) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
        assert_close(&format!("texture dA {s:?}"), &download_on(e, &gda), &da, 1e-5, 1e-4);
        assert_close(&format!("texture dB {s:?}"), &download_on(e, &gdb), &db, 1e-5, 1e-4);
    }
}
