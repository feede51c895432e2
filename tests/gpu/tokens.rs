//! Token assembly and its backward (`shaders/tokens.wgsl`, `ops::tokens`).

use crate::common::*;
use adclr_wgpu::ops::tokens;
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
