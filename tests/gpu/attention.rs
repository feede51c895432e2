use crate::common::*;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::gpu::Engine;
use adclr_wgpu::ops::attention::{self, AttentionShape, QueryAttends, TILED_HEAD_DIM};
use adclr_wgpu::reference;

/// (batch, n_base, queries, heads, head_dim)
const SHAPES: &[(usize, usize, usize, usize, usize)] = &[
    (2, 5, 3, 2, 8),
    (1, 1, 2, 1, 1),
    (3, 17, 0, 3, 16),
    (1, 65, 10, 2, 64),
    (2, 10, 1, 1, 33),
    (1, 12, 3, 1, 128),
    (2, 6, 2, 2, 36),
    // head_dim 64 takes the shared-memory kernels on GPU policies: 64-row blocks that are all
    // CLS / patch rows, mixed, and partial.
    (1, 130, 5, 1, 64),
    (2, 60, 9, 2, 64),
];

fn all_shapes() -> Vec<AttentionShape> {
    let mut out = Vec::new();
    for &(batch, n_base, q, heads, head_dim) in SHAPES {
        for mode in QueryAttends::ALL_MODES {
            for bidirectional in [false, true] {
                out.push(AttentionShape {
                    batch,
                    tokens: n_base + q,
                    heads,
                    head_dim,
                    n_base,
                    query_attends: mode,
                    bidirectional,
                });
            }
        }
    }
    out
}

/// Forward and backward on `e`: for head_dim 64 the quad kernels on the large engine (where
/// the adapter has subgroups, as lavapipe does) and the shared-memory tiles on the tiled one;
/// otherwise one thread per row on the tiled, large and blocked engines, and the subgroup
/// kernels (head_dim % 4 == 0) on the subgroup engine.
fn run_attention(e: &Engine, s: &AttentionShape, qkv: &[f64], dout: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (out, lse, dqkv, _) = run_attention_kernels(e, s, qkv, dout);
    (out, lse, dqkv)
}

/// `run_attention`, with the entry points it took: forward, query and key/value backward.
fn run_attention_kernels(
    e: &Engine,
    s: &AttentionShape,
    qkv: &[f64],
    dout: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, [&'static str; 3]) {
    let (gqkv, gout, glse) =
        (upload_on(e, "qkv", qkv), zeros_on(e, "out", s.out_len()), zeros_on(e, "lse", s.lse_len()));
    let (gdout, gdqkv) = (upload_on(e, "dout", dout), zeros_on(e, "dqkv", s.qkv_len()));
    let fwd = attention::forward(e, s, &gqkv, &gout, &glse).unwrap();
    let bwd = attention::backward(e, s, &gqkv, &gout, &glse, &gdout, &gdqkv).unwrap();
    e.run(&[&fwd, &bwd[0], &bwd[1]]).unwrap();
    let kernels = [fwd.kernel, bwd[0].kernel, bwd[1].kernel];
    (download_on(e, &gout), download_on(e, &glse), download_on(e, &gdqkv), kernels)
}

#[test]
fn attention_every_mask_mode_forward_and_backward() {
    for e in engines() {
        every_mask_mode_on(e);
    }
}

fn every_mask_mode_on(e: &Engine) {
    let mut rng = Rng::new(10);
    for s in all_shapes() {
        let qkv = f32_exact(&rng.vec(s.qkv_len(), 1.5));
        let dout = f32_exact(&rng.vec(s.out_len(), 1.0));
        let (out, lse, dqkv) = run_attention(e, &s, &qkv, &dout);
        let (want_out, want_lse) = reference::attention::forward(&s, &qkv);
        assert_close(&format!("attention out {s:?}"), &out, &want_out, 1e-5, 1e-4);
        assert_close(&format!("attention lse {s:?}"), &lse, &want_lse, 1e-5, 1e-4);
        let want_dqkv = reference::attention::backward(&s, &qkv, &dout);
        assert_close(&format!("attention dqkv {s:?}"), &dqkv, &want_dqkv, 1e-5, 1e-3);
    }
}

#[test]
fn one_way_mask_leaves_cls_and_patches_unchanged_by_queries() {
    for e in engines() {
        one_way_mask_on(e);
    }
}

fn one_way_mask_on(e: &Engine) {
    let mut rng = Rng::new(11);
    let (batch, n_base, q, heads, hd) = (2, 9, 4, 2, 8);
    let with_q = AttentionShape {
        batch,
        tokens: n_base + q,
        heads,
        head_dim: hd,
        n_base,
        query_attends: QueryAttends::ClsPatchesSelf,
        bidirectional: false,
    };
    let qkv = f32_exact(&rng.vec(with_q.qkv_len(), 1.0));
    let dout = vec![0.0; with_q.out_len()];
    // The same images without their query tokens.
    let without_q = AttentionShape { tokens: n_base, ..with_q };
    let row = 3 * heads * hd;
    let qkv_base: Vec<f64> =
        (0..batch).flat_map(|b| qkv[b * with_q.tokens * row..(b * with_q.tokens + n_base) * row].to_vec()).collect();
    let (out_q, _, _) = run_attention(e, &with_q, &qkv, &dout);
    let (out_base, _, _) = run_attention(e, &without_q, &qkv_base, &vec![0.0; without_q.out_len()]);
    let orow = heads * hd;
    let base_rows_of_q: Vec<f64> = (0..batch)
        .flat_map(|b| out_q[b * with_q.tokens * orow..(b * with_q.tokens + n_base) * orow].to_vec())
        .collect();
    assert_eq!(base_rows_of_q, out_base, "queries changed CLS/patch outputs under the one-way mask");
    // With bidirectional attention they must differ.
    let bi = AttentionShape { bidirectional: true, ..with_q };
    let (out_bi, _, _) = run_attention(e, &bi, &qkv, &dout);
    let base_rows_bi: Vec<f64> = (0..batch)
        .flat_map(|b| out_bi[b * with_q.tokens * orow..(b * with_q.tokens + n_base) * orow].to_vec())
        .collect();
    assert!(check_close("bidirectional", &base_rows_bi, &out_base, 1e-4, 1e-3).is_err());
}

/// The quad kernels under f16-mixed round q, k, v and dO to f16 as they read them and keep
/// everything else in f32: on every mask mode and the head_dim-64 shapes they take, they equal
/// the f64 reference on the rounded tensors at the f32 tolerances above, and the unrounded
/// reference is outside those tolerances (a kernel that skipped the rounding fails the first
/// check, one that rounded anything more, such as the probabilities, fails it too).
#[test]
fn quad_attention_f16_equals_the_reference_on_rounded_operands() {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, EngineRequest, KernelChoice, MatmulKernel, Precision, RowKernels};
    if let Some(missing) = Precision::F16Mixed.missing_on(&engine().ctx) {
        eprintln!("note: f16-mixed needs {missing}; the f16 attention is not tested here");
        return;
    }
    let base = KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Quad);
    let Ok(e) = Engine::open(&EngineRequest::exact(adapter(), KernelChoice { precision: Precision::F16Mixed, ..base }))
    else {
        eprintln!("note: quad attention needs subgroups of 4+ lanes; the f16 attention is not tested here");
        return;
    };
    let round = reference::matmul::round_to_f16;
    let mut rng = Rng::new(12);
    let shapes: Vec<AttentionShape> = all_shapes().into_iter().filter(|s| s.head_dim == TILED_HEAD_DIM).collect();
    assert!(shapes.len() >= 24, "the head_dim-64 shapes of every mode");
    for s in shapes {
        let qkv = f32_exact(&rng.vec(s.qkv_len(), 1.5));
        let dout = f32_exact(&rng.vec(s.out_len(), 1.0));
        let (out, lse, dqkv, kernels) = run_attention_kernels(&e, &s, &qkv, &dout);
        let quad_f16 = [
            entry::ATTENTION_FORWARD_QUAD_F16,
            entry::ATTENTION_BACKWARD_QUERY_QUAD_F16,
            entry::ATTENTION_BACKWARD_KEY_VALUE_QUAD_F16,
        ];
        assert_eq!(kernels, quad_f16);
        let (qkv16, dout16) = (round(&qkv), round(&dout));
        let (want_out, want_lse) = reference::attention::forward(&s, &qkv16);
        let want_dqkv = reference::attention::backward(&s, &qkv16, &dout16);
        assert_close(&format!("f16 attention out {s:?}"), &out, &want_out, 1e-5, 1e-4);
        assert_close(&format!("f16 attention lse {s:?}"), &lse, &want_lse, 1e-5, 1e-4);
        assert_close(&format!("f16 attention dqkv {s:?}"), &dqkv, &want_dqkv, 1e-5, 1e-3);
        let (f32_out, _) = reference::attention::forward(&s, &qkv);
        let f32_dqkv = reference::attention::backward(&s, &qkv, &dout);
        assert!(check_close("unrounded out", &out, &f32_out, 1e-5, 1e-4).is_err(), "{s:?}: out not rounded");
        assert!(check_close("unrounded dqkv", &dqkv, &f32_dqkv, 1e-5, 1e-3).is_err(), "{s:?}: dqkv not rounded");
    }
}

/// ||got - want|| / ||want||.
fn relative_error(got: &[f64], want: &[f64]) -> f64 {
    let diff: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    (diff / norm).sqrt()
}

/// Relative error (whole tensor) the cooperative-matrix attention may have against the f64
/// reference on f16-rounded q, k, v and dO: what rounding P and dS to f16 (2^-11 relative
/// per term) costs the output and the gradients. Measured below 2e-4 on Mesa 26 lavapipe;
/// flipping the mask of the CLS and patch rows (a kernel that lost the one-way mask) gives
/// above 1e-2.
const COOP_ATTENTION_ERROR: f64 = 1e-3;

/// The cooperative-matrix attention (the largest size the adapter lists: 8x8x8 on Mesa 26
/// lavapipe, where .ci/run runs this with ADCLR_EXPECT_COOP) on every mask mode and the
/// head_dim-64 shapes: lse at the f32 tolerances of the reference on the rounded tensors
/// (its scores are products of f16 values summed in f32), the output and dqkv within
/// COOP_ATTENTION_ERROR, and the reference with the other mask outside it.
#[test]
fn coop_attention_matches_the_reference_on_rounded_operands() {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, EngineRequest, KernelChoice, MatmulKernel, Precision, RowKernels};
    if let Some(missing) = AttentionKernel::Coop.missing_on(&engine().ctx) {
        assert!(std::env::var_os("ADCLR_EXPECT_COOP").is_none(), "ADCLR_EXPECT_COOP is set, but {missing}");
        eprintln!("note: the coop attention needs {missing}; not tested here");
        return;
    }
    let base = KernelChoice::f32(MatmulKernel::Tiles, RowKernels::Workgroup, AttentionKernel::Coop);
    let e = Engine::open(&EngineRequest::exact(adapter(), KernelChoice { precision: Precision::F16Mixed, ..base }))
        .unwrap();
    let size = e.coop_attention_size().expect("the coop attention compiled");
    let round = reference::matmul::round_to_f16;
    let mut rng = Rng::new(14);
    let mut worst = [0f64; 2];
    for s in all_shapes().into_iter().filter(|s| s.head_dim == TILED_HEAD_DIM) {
        let qkv = f32_exact(&rng.vec(s.qkv_len(), 1.5));
        let dout = f32_exact(&rng.vec(s.out_len(), 1.0));
        let (out, lse, dqkv, kernels) = run_attention_kernels(&e, &s, &qkv, &dout);
        let names = [
            format!("attention_forward_coop{size}"),
            format!("attention_backward_query_coop{size}"),
            format!("attention_backward_key_value_coop{size}"),
        ];
        assert_eq!(kernels, names.each_ref().map(String::as_str));
        let (qkv16, dout16) = (round(&qkv), round(&dout));
        let (want_out, want_lse) = reference::attention::forward(&s, &qkv16);
        let want_dqkv = reference::attention::backward(&s, &qkv16, &dout16);
        assert_close(&format!("coop attention lse {s:?}"), &lse, &want_lse, 1e-5, 1e-4);
        let errors = [relative_error(&out, &want_out), relative_error(&dqkv, &want_dqkv)];
        eprintln!("{s:?}: out {:.2e}, dqkv {:.2e}", errors[0], errors[1]);
        for (w, e) in worst.iter_mut().zip(errors) {
            *w = w.max(e);
        }
        assert!(errors.iter().all(|&e| e < COOP_ATTENTION_ERROR), "{s:?}: relative errors {errors:?}");
        let flipped = AttentionShape { bidirectional: !s.bidirectional, ..s };
        let (other_out, _) = reference::attention::forward(&flipped, &qkv16);
        let other_dqkv = reference::attention::backward(&flipped, &qkv16, &dout16);
        let other = [relative_error(&out, &other_out), relative_error(&dqkv, &other_dqkv)];
        assert!(other.iter().all(|&e| e > 10.0 * COOP_ATTENTION_ERROR), "{s:?}: the other mask is only {other:?} away");
    }
    eprintln!("coop{size} attention: worst relative error out {:.2e}, dqkv {:.2e}", worst[0], worst[1]);
}
