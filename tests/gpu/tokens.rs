use crate::common::*;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::{residual, rows, tokens};
use adclr_wgpu::reference::tokens::{self as r, TokenShape};

#[test]
fn token_assembly_forward_and_backward() {
    let e = engine();
    let mut rng = Rng::new(30);
    for (images, patches, queries, dim) in [(2usize, 4usize, 3usize, 5usize), (1, 1, 0, 1), (3, 16, 10, 32)] {
        let s = TokenShape { images, patches, queries, dim };
        let cls = f32_exact(&rng.vec(dim, 1.0));
        let pos = f32_exact(&rng.vec((1 + patches) * dim, 1.0));
        let pp = f32_exact(&rng.vec(images * patches * dim, 1.0));
        let qp = f32_exact(&rng.vec((images * queries).max(1) * dim, 1.0));
        let (gcls, gpos, gpp, gqp, gx) =
            (upload("cls", &cls), upload("pos", &pos), upload("pp", &pp), upload("qp", &qp), zeros("x", s.x_len()));
        e.run(&[&tokens::assemble(e, &s, &gcls, &gpos, &gpp, &gqp, &gx).unwrap()]).unwrap();
        assert_close(
            "assemble",
            &download(&gx),
            &r::assemble(&s, &cls, &pos, &pp, &qp[..images * queries * dim]),
            0.0,
            1e-7,
        );
        let dx = f32_exact(&rng.vec(s.x_len(), 1.0));
        let gdx = upload("dx", &dx);
        let (gdp, gdq) = (zeros("dpatch", images * patches * dim), zeros("dquery", (images * queries).max(1) * dim));
        // Accumulate onto existing cls/pos gradients.
        let (dcls0, dpos0) = (f32_exact(&rng.vec(dim, 1.0)), f32_exact(&rng.vec((1 + patches) * dim, 1.0)));
        let (gdc, gdpos) = (upload("dcls", &dcls0), upload("dpos", &dpos0));
        let ds = tokens::backward(e, &s, &gdx, &gdp, &gdq, &gdc, &gdpos, true).unwrap();
        e.run(&[&ds[0], &ds[1]]).unwrap();
        let (dcls, dpos, dpatch, dquery) = r::backward(&s, &dx);
        let plus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
        assert_close("dcls", &download(&gdc), &plus(&dcls, &dcls0), 1e-6, 1e-6);
        assert_close("dpos", &download(&gdpos), &plus(&dpos, &dpos0), 1e-6, 1e-6);
        assert_close("dpatch", &download(&gdp), &dpatch, 0.0, 1e-7);
        assert_close("dquery", &download(&gdq)[..dquery.len()], &dquery, 0.0, 1e-7);
    }
}

#[test]
fn gather_and_scatter_rows() {
    let e = engine();
    let mut rng = Rng::new(31);
    let (src_rows, dim) = (11usize, 7usize);
    let src = f32_exact(&rng.vec(src_rows * dim, 1.0));
    let index = [0usize, 10, 4, 5];
    let gsrc = upload("src", &src);
    let gidx = GpuTensor::from_u32(&e.ctx, "index", &[4], &index.map(|i| i as u32)).unwrap();
    let gdst = zeros("dst", 6 * dim);
    e.run(&[&rows::gather(e, &gsrc, &gidx, &gdst, dim, 2).unwrap()]).unwrap();
    let got = download(&gdst);
    assert!(got[..2 * dim].iter().all(|&v| v == 0.0));
    assert_close("gather", &got[2 * dim..], &r::gather(&src, &index, dim), 0.0, 0.0);
    let gback = zeros("dsrc", src_rows * dim);
    e.run(&[&rows::scatter(e, &gdst, &gidx, &gback, dim, 2).unwrap()]).unwrap();
    assert_close("scatter", &download(&gback), &r::scatter(&got[2 * dim..], &index, src_rows, dim), 0.0, 0.0);
}

#[test]
fn residual_with_drop_path_scales() {
    let e = engine();
    let mut rng = Rng::new(32);
    let (samples, rows_per, dim) = (3usize, 5usize, 9usize);
    let n = samples * rows_per * dim;
    let x = f32_exact(&rng.vec(n, 1.0));
    let br = f32_exact(&rng.vec(n, 1.0));
    let scale = vec![0.0, 1.25, 1.25];
    // The scales sit at offset 2 of a longer table (one block's slice of all blocks').
    let (gx, gb, go) = (upload("x", &x), upload("branch", &br), zeros("out", n));
    let gs = upload("scale", &[9.0, 9.0, 0.0, 1.25, 1.25, 9.0]);
    let ss = residual::SampleScale { scale: &gs, offset: 2 };
    let gd = zeros("dbranch", n);
    e.run(&[
        &residual::add(e, &gx, &gb, ss, &go, dim, rows_per).unwrap(),
        &residual::branch_grad(e, &gx, ss, &gd, dim, rows_per).unwrap(),
    ])
    .unwrap();
    assert_close("residual", &download(&go), &r::residual(&x, &br, &scale, dim, rows_per), 1e-7, 1e-6);
    assert_close("residual dbranch", &download(&gd), &r::residual_branch_grad(&x, &scale, dim, rows_per), 1e-7, 1e-6);
}
