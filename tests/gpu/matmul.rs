use crate::common::*;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::gpu::{GpuTensor, MatmulKernel};
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
                assert!(matmul::split_k(e, rows, cols, m) > 1, "{s:?} should be split on {:?}", e.choice);
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

/// The f32 tiles, 128 x 128 (matmul_tiles.wgsl) and narrow (matmul_tiles_wide.wgsl 64 x 128,
/// matmul_tiles_tall.wgsl 128 x 64), on shapes that cross tile edges in M and N, end K in a
/// partial step of 8 and run several steps, over batches and broadcast weights, in each
/// layout and tile shape (checked to be taken: a batch of 72 gives the 128 x 128 grid enough
/// workgroups, the small products run narrow): forward with bias and accumulation, both
/// gradients (the weight gradient of a broadcast B summed over the batch in the kernel).
#[test]
fn tiles_kernels_match_reference_across_tile_edges() {
    let e = engines().into_iter().find(|e| e.choice.matmul == MatmulKernel::Tiles).expect("a tiles engine");
    let mut rng = Rng::new(11);
    let mut ran = std::collections::BTreeSet::new();
    let shapes = [(1, 260, 132, 36), (2, 129, 260, 20), (3, 8, 4, 4), (1, 4, 136, 1028), (72, 132, 136, 12)];
    for s in variants(&shapes, false) {
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let bias = f32_exact(&rng.vec(s.n, 1.0));
        let c0 = f32_exact(&rng.vec(s.c_len(), 1.0));
        let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
        let (ga, gb, gbias, gdc) =
            (upload_on(e, "a", &a), upload_on(e, "b", &b), upload_on(e, "bias", &bias), upload_on(e, "dc", &dc));
        let gc = upload_on(e, "c", &c0);
        let (gda, gdb) = (zeros_on(e, "da", s.a_len()), zeros_on(e, "db", s.b_len()));
        let forward = matmul::forward(e, &s, &ga, &gb, Some(&gbias), &gc, 0.5, true).unwrap();
        let backward = matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), None, 0.5, false).unwrap();
        // A transposed runs along M (M % 4 == 0 here or not), and no kernel takes both transposed.
        let taken = !s.trans_a || (!s.trans_b && s.m.is_multiple_of(4));
        if taken {
            assert!(forward.kernel.starts_with("matmul_tiles_"), "{s:?} ran {}", forward.kernel);
        }
        let mut all = vec![&forward];
        all.extend(backward.iter());
        ran.extend(all.iter().map(|d| d.kernel).filter(|k| k.starts_with("matmul_tiles_")));
        e.run(&all).unwrap();
        let product = reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5);
        let want: Vec<f64> = product.iter().zip(&c0).map(|(x, y)| x + y).collect();
        assert_close(&format!("tiles C {s:?}"), &download_on(e, &gc), &want, 1e-5, 1e-4);
        let (da, db, _) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
        assert_close(&format!("tiles dA {s:?}"), &download_on(e, &gda), &da, 1e-4, 1e-4);
        assert_close(&format!("tiles dB {s:?}"), &download_on(e, &gdb), &db, 1e-4, 1e-4);
    }
    let want: Vec<String> = ["", "tall_", "wide_"]
        .iter()
        .flat_map(|shape| ["nn", "nt", "tn"].map(|layout| format!("matmul_tiles_{shape}{layout}")))
        .collect();
    let mut want = want;
    want.sort();
    assert_eq!(ran.into_iter().collect::<Vec<_>>(), want);
}

/// The tile shape follows the grid: 128 x 128 where that grid has enough workgroups, else the
/// narrow tile that pads less (64 rows for few rows, 64 columns for few columns).
#[test]
fn tiles_narrow_only_where_square_tiles_leave_workgroups_idle() {
    use adclr_wgpu::ops::matmul_variant::{Layout, TileShape::*};
    use matmul::{MatmulVariant::Tiles, NARROW_BELOW_WORKGROUPS};
    let tiles_for = matmul::MatmulVariant::tiles_for;
    // ViT-S/16 b64: 12,608 token rows x 384 columns: 297 square workgroups.
    assert_eq!(tiles_for(12608, 384, 1, Layout::Nt), Tiles(Square, Layout::Nt));
    // A projection head over 128 rows x 2048 columns: 16 square workgroups.
    let wide = tiles_for(128, 2048, 1, Layout::Nt);
    assert_eq!((wide, wide.entry(), wide.block()), (Tiles(Wide, Layout::Nt), entry::MATMUL_TILES_WIDE_NT, [128, 64]));
    let tall = tiles_for(2048, 100, 1, Layout::Nn);
    assert_eq!((tall, tall.entry(), tall.block()), (Tiles(Tall, Layout::Nn), entry::MATMUL_TILES_TALL_NN, [64, 128]));
    assert_eq!(tiles_for(60, 300, 1, Layout::Tn).entry(), entry::MATMUL_TILES_WIDE_TN);
    // The batch counts: the same small product batched past the threshold runs square.
    assert_eq!(tiles_for(128, 128, NARROW_BELOW_WORKGROUPS, Layout::Nt), Tiles(Square, Layout::Nt));
    assert_eq!(tiles_for(128, 128, NARROW_BELOW_WORKGROUPS - 1, Layout::Nt), Tiles(Wide, Layout::Nt));
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
    let Some(e) = engines().into_iter().find(|e| e.choice.matmul == MatmulKernel::Subgroup) else {
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

/// The tiles kernels (f32 and f16) are built without naga's bounds checks (`ShaderFile::trusted`): each entry
/// point, run directly on operands followed by NaN in the same binding and a C followed by
/// sentinels, at shapes whose edges end inside a tile and inside a K step, per batch and
/// summed over the batch, uses no value read past its operands (C stays finite and right) and
/// writes nothing past C (the sentinels stay). (A read past an operand whose value is
/// discarded leaves no trace here; the shader's header argues there is none.)
#[test]
fn trusted_tiles_kernels_stay_inside_their_operands() {
    use adclr_wgpu::gpu::kernels::SHADER_FILES;
    use matmul::{MatmulParams, FLAG_BIAS, FLAG_SUM_BATCH};
    let files = ["matmul_tiles", "matmul_tiles_wide", "matmul_tiles_tall", "matmul_tiles_f16"];
    for file in files {
        assert!(SHADER_FILES.iter().any(|f| f.name == file && f.trusted), "{file} is not trusted");
    }
    let e = engines().into_iter().find(|e| e.choice.matmul == MatmulKernel::Tiles).expect("a tiles engine");
    // Every tile shape; the f16 entry points too, where the device compiled them (reference on
    // rounded operands). (entry, trans_a, trans_b, rows and columns of C per workgroup)
    let mut entries = Vec::new();
    let families: [(&str, [&'static str; 3], u32, u32); 4] = [
        ("square", [entry::MATMUL_TILES_NT, entry::MATMUL_TILES_NN, entry::MATMUL_TILES_TN], 128, 128),
        ("wide", [entry::MATMUL_TILES_WIDE_NT, entry::MATMUL_TILES_WIDE_NN, entry::MATMUL_TILES_WIDE_TN], 64, 128),
        ("tall", [entry::MATMUL_TILES_TALL_NT, entry::MATMUL_TILES_TALL_NN, entry::MATMUL_TILES_TALL_TN], 128, 64),
        ("f16", [entry::MATMUL_TILES_F16_NT, entry::MATMUL_TILES_F16_NN, entry::MATMUL_TILES_F16_TN], 128, 128),
    ];
    for (family, names, rows, cols) in families {
        if !e.kernels.has(names[0]) {
            assert_eq!(family, "f16", "{} was not compiled", names[0]);
            continue;
        }
        for (name, (trans_a, trans_b)) in names.into_iter().zip([(false, true), (false, false), (true, false)]) {
            entries.push((name, trans_a, trans_b, rows, cols));
        }
    }
    const TAIL: usize = 300;
    const SENTINEL: f64 = 7.25;
    let with_tail = |x: &[f64], fill: f64| x.iter().copied().chain(std::iter::repeat_n(fill, TAIL)).collect::<Vec<_>>();
    let mut rng = Rng::new(12);
    for (entry, trans_a, trans_b, tile_rows, tile_cols) in entries {
        for (batch, m, n, k) in [(2, 132, 68, 12), (1, 4, 4, 4), (3, 260, 132, 36)] {
            for sum_batch in [false, true] {
                let mut s = MatmulShape::new(batch, m, n, k);
                (s.trans_a, s.trans_b) = (trans_a, trans_b);
                let a = f32_exact(&rng.vec(s.a_len(), 1.0));
                let b = f32_exact(&rng.vec(s.b_len(), 1.0));
                let bias = f32_exact(&rng.vec(n, 1.0));
                let c_len = if sum_batch { m * n } else { s.c_len() };
                let ga = upload_on(e, "a", &with_tail(&a, f64::NAN));
                let gb = upload_on(e, "b", &with_tail(&b, f64::NAN));
                let gbias = upload_on(e, "bias", &with_tail(&bias, f64::NAN));
                let gc = upload_on(e, "c", &with_tail(&vec![0.0; c_len], SENTINEL));
                let (a_rs, a_cs) = if trans_a { (1, m) } else { (k, 1) };
                let (b_rs, b_cs) = if trans_b { (1, k) } else { (n, 1) };
                let params = MatmulParams {
                    m: m as u32,
                    n: n as u32,
                    k: k as u32,
                    batch: batch as u32,
                    a_rs: a_rs as u32,
                    a_cs: a_cs as u32,
                    a_bs: (m * k) as u32,
                    b_rs: b_rs as u32,
                    b_cs: b_cs as u32,
                    b_bs: (k * n) as u32,
                    c_bs: (m * n) as u32,
                    flags: FLAG_BIAS | if sum_batch { FLAG_SUM_BATCH } else { 0 },
                    alpha: 0.5,
                    ..Default::default()
                };
                let z = if sum_batch { 1 } else { batch as u32 };
                let grid = [(n as u32).div_ceil(tile_cols), (m as u32).div_ceil(tile_rows), z];
                let tensors = [&ga, &gb, &gbias, &gc, &ga, &e.kernels.dummy_rw];
                e.run(&[&e.dispatch(entry, &params, &tensors, grid).unwrap()]).unwrap();
                let got = download_on(e, &gc);
                let (a, b) = match entry.contains("f16") {
                    true => (reference::matmul::round_to_f16(&a), reference::matmul::round_to_f16(&b)),
                    false => (a, b),
                };
                let per_batch = reference::matmul::forward(&s, &a, &b, None, 0.5);
                let mut want = vec![0.0; c_len];
                for (i, v) in per_batch.iter().enumerate() {
                    let at = if sum_batch { i % (m * n) } else { i };
                    want[at] += v;
                }
                // The bias is added once per stored element, after the batch sum.
                for (i, w) in want.iter_mut().enumerate() {
                    *w += bias[i % n];
                }
                let what = format!("{entry} {batch}x{m}x{n}x{k} sum_batch {sum_batch}");
                assert_close(&what, &got[..c_len], &want, 1e-4, 1e-4);
                assert!(got[c_len..].iter().all(|&x| x == SENTINEL), "{what} wrote past C");
            }
        }
    }
}

/// f16-mixed (matmul_tiles_f16.wgsl, matmul_subgroup_f16.wgsl): every product the f16
/// kernels take runs with its operands rounded to f16 and an f32 accumulation, so it matches
/// the reference on rounded operands at the f32 tolerance of the other matmul tests, and that
/// tolerance refuses the unrounded reference (a kernel that kept f32 operands would fail); the
/// layouts they do not take stay f32. Forward with bias and both gradients (split-K for the
/// larger weight gradient).
#[test]
fn f16_mixed_tiles_round_operands_and_accumulate_in_f32() {
    f16_mixed_on(MatmulKernel::Tiles, &["nn", "nt", "tn"].map(|l| format!("matmul_tiles_f16_{l}")));
}

/// The same on cooperative matrices (tensor cores; in CI Mesa 26 lavapipe's 8x8x8 through
/// ../shared/coop/lavapipe26.sh, .ci/run), every layout through the one strided kernel.
#[test]
fn f16_mixed_cooperative_matrices_round_operands_and_accumulate_in_f32() {
    use adclr_wgpu::gpu::choice::Family;
    if let Some(missing) = MatmulKernel::Coop.missing_on(&engine().ctx) {
        // .ci/run sets ADCLR_EXPECT_COOP on Mesa 26: there a skip would hide a lost test.
        assert!(std::env::var_os("ADCLR_EXPECT_COOP").is_none(), "ADCLR_EXPECT_COOP is set, but {missing}");
        eprintln!("note: the coop matmul needs {missing}; not tested here");
        return;
    }
    let size = engine().ctx.coop_sizes.iter().max().copied().unwrap_or_default();
    f16_mixed_on(MatmulKernel::Coop, &[format!("matmul_coop{size}")]);
}

/// The same through the subgroup kernels (lavapipe's f16-mixed path).
#[test]
fn f16_mixed_subgroup_kernels_round_operands_and_accumulate_in_f32() {
    if !engine().ctx.subgroups {
        eprintln!("note: no 8-lane subgroups here; the f16 subgroup kernels are not tested");
        return;
    }
    f16_mixed_on(MatmulKernel::Subgroup, &["nn", "nt", "tn"].map(|l| format!("matmul_sg_f16_{l}")));
}

/// The f16 kernels (tiles, subgroup, cooperative matrices) round each operand to the nearest f16, ties to even, as IEEE's conversion
/// (the reference: the `half` crate), on the values where roundings differ: ties, the
/// subnormal range, the largest finite value and beyond it (infinite), signs. A row of A holds
/// one value and zeros, B is ones, so each output is that value rounded.
#[test]
fn f16_kernels_round_operands_to_nearest_even() {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, Engine, KernelChoice, Precision, RowKernels};
    if let Some(missing) = Precision::F16Mixed.missing_on(&engine().ctx) {
        eprintln!("note: f16-mixed needs {missing}; not tested here");
        return;
    }
    let p = |e: i32| 2f64.powi(e);
    let values = [
        1.0 + p(-11),          // a tie: down to even 1
        1.0 + 3.0 * p(-11),    // a tie: up to even
        1.0 + p(-11) + p(-20), // above the tie: up
        -(1.0 + 3.0 * p(-11)),
        65504.0, // the largest finite f16
        65519.0, // rounds down to it
        65520.0, // rounds past it: infinite
        -70000.0,
        1e30,
        1e-5,            // subnormal f16
        p(-25),          // a subnormal tie: down to 0
        3.0 * p(-25),    // a subnormal tie: up to 2^-23
        p(-14) - p(-26), // just below the smallest normal
        -2.5e-6,
        1e-9,
        0.1,
        1.0 / 3.0,
        10000.3,
    ];
    let values: Vec<f64> = values.iter().map(|&v| v as f32 as f64).collect();
    let (m, k, n) = (values.len(), 4, 8);
    let s = MatmulShape { batch: 1, m, n, k, trans_a: false, trans_b: false, broadcast_a: false, broadcast_b: false };
    let a: Vec<f64> = values.iter().flat_map(|&v| [v, 0.0, 0.0, 0.0]).collect();
    let b = vec![1.0; k * n];
    let want = reference::matmul::round_to_f16(&values);
    let coop = format!("matmul_coop{}", engine().ctx.coop_sizes.iter().max().copied().unwrap_or_default());
    let kernels = [
        (MatmulKernel::Tiles, entry::MATMUL_TILES_F16_NN),
        (MatmulKernel::Subgroup, entry::MATMUL_SG_F16_NN),
        (MatmulKernel::Coop, coop.as_str()),
    ];
    for (kernel, entry) in kernels {
        if kernel.missing_on(&engine().ctx).is_some() {
            eprintln!("note: no {kernel:?} matmul here; its rounding is not tested");
            continue;
        }
        let base = KernelChoice::f32(kernel, RowKernels::Workgroup, AttentionKernel::Tiled);
        let choice = KernelChoice { precision: Precision::F16Mixed, ..base };
        let e = &Engine::open(&adclr_wgpu::gpu::EngineRequest::exact(adapter(), choice)).unwrap();
        let (ga, gb, gc) = (upload_on(e, "a", &a), upload_on(e, "b", &b), zeros_on(e, "c", m * n));
        let forward = matmul::forward(e, &s, &ga, &gb, None, &gc, 1.0, false).unwrap();
        assert_eq!(forward.kernel, entry);
        e.run(&[&forward]).unwrap();
        let got = download_on(e, &gc);
        for (row, (&v, &w)) in values.iter().zip(&want).enumerate() {
            for col in 0..n {
                let g = got[row * n + col];
                assert!(g == w, "{entry}: {v:e} rounds to {w:e}, the kernel gave {g:e} (column {col})");
            }
        }
    }
    assert!(want[6].is_infinite() && want[5] == 65504.0 && want[10] == 0.0, "the edges are where they should be");
}

/// Runs the f16-mixed products under `kernel`; `expected` are the f16 entry points it must
/// have taken.
fn f16_mixed_on(kernel: MatmulKernel, expected: &[String]) {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, Engine, KernelChoice, Precision, RowKernels};
    if let Some(missing) = Precision::F16Mixed.missing_on(&engine().ctx) {
        eprintln!("note: f16-mixed needs {missing}; not tested here");
        return;
    }
    let base = KernelChoice::f32(kernel, RowKernels::Workgroup, AttentionKernel::Tiled);
    let choice = KernelChoice { precision: Precision::F16Mixed, ..base };
    let e = Engine::open(&adclr_wgpu::gpu::EngineRequest::exact(adapter(), choice)).unwrap();
    let e = &e;
    let (atol, rtol) = (1e-5, 1e-4);
    let round = reference::matmul::round_to_f16;
    let mut rng = Rng::new(13);
    let mut ran = std::collections::BTreeSet::new();
    for s in variants(&[(2, 129, 260, 20), (1, 260, 132, 36)], false) {
        let a = f32_exact(&rng.vec(s.a_len(), 1.0));
        let b = f32_exact(&rng.vec(s.b_len(), 1.0));
        let bias = f32_exact(&rng.vec(s.n, 1.0));
        let dc = f32_exact(&rng.vec(s.c_len(), 1.0));
        let (ga, gb, gbias, gdc) =
            (upload_on(e, "a", &a), upload_on(e, "b", &b), upload_on(e, "bias", &bias), upload_on(e, "dc", &dc));
        let (gc, gda, gdb) = (zeros_on(e, "c", s.c_len()), zeros_on(e, "da", s.a_len()), zeros_on(e, "db", s.b_len()));
        let forward = matmul::forward(e, &s, &ga, &gb, Some(&gbias), &gc, 0.5, false).unwrap();
        let backward = matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), None, 0.5, false).unwrap();
        let mut all = vec![&forward];
        all.extend(backward.iter());
        e.run(&all).unwrap();
        let exact_c = reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5);
        let rounded_c = reference::matmul::forward(&s, &round(&a), &round(&b), Some(&bias), 0.5);
        let (exact_da, exact_db, _) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
        let (rounded_da, rounded_db, _) = reference::matmul::backward(&s, &round(&a), &round(&b), &round(&dc), 0.5);
        // dA is the first backward dispatch, dB's product (split or not) the second.
        for (what, kernel, got, rounded, exact) in [
            ("C", forward.kernel, &gc, rounded_c, exact_c),
            ("dA", backward[0].kernel, &gda, rounded_da, exact_da),
            ("dB", backward[1].kernel, &gdb, rounded_db, exact_db),
        ] {
            let got = download_on(e, got);
            let what = format!("f16-mixed {what} {s:?} by {kernel}");
            if kernel.contains("_f16_") || kernel.starts_with("matmul_coop") {
                ran.insert(kernel);
                assert_close(&what, &got, &rounded, atol, rtol);
                assert!(
                    check_close(&what, &exact, &rounded, atol, rtol).is_err(),
                    "{what}: rounding is invisible here"
                );
            } else {
                assert_close(&what, &got, &exact, atol, rtol);
            }
        }
    }
    let ran: Vec<String> = ran.into_iter().map(String::from).collect();
    assert!(expected.iter().all(|x| ran.contains(x)), "{kernel:?} ran {ran:?}, not all of {expected:?}");
}
