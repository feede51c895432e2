//! A kernel variant checked against the CPU reference on this adapter before `tune` may time
//! and choose it: small, awkward shapes of the family's op, forward and backward, at f32 (what
//! `tune` times: the precision is never tuned) within the loosest f32 tolerance of tests/gpu
//! (the attention gradient's), which f16 rounding already exceeds. A variant
//! whose results differ (a driver that miscompiles it, a kernel never run on this kind of
//! device that is wrong here) is reported and never chosen. An engine at f16-mixed fails the
//! check (its operands are rounded to f16): tests/gpu/tune.rs uses that to show the check sees
//! a kernel that computes something else.

use crate::error::{Error, Result};
use crate::gpu::{Engine, GpuTensor};
use crate::ops::attention::{self, AttentionShape, QueryAttends};
use crate::ops::{layernorm, matmul};
use crate::reference::{self, check_close, matmul::MatmulShape};
use crate::rng::Rng;

/// Absolute and relative tolerance of an f32 kernel against the f64 reference: tests/gpu's
/// for the attention gradient (its forward and matmul tests hold 1e-4 relative).
const F32_TOLERANCE: (f64, f64) = (1e-5, 1e-3);

fn upload(e: &Engine, name: &str, x: &[f64]) -> Result<GpuTensor> {
    let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    GpuTensor::from_f32(&e.ctx, name, &[x.len()], &data)
}

fn download(e: &Engine, t: &GpuTensor) -> Result<Vec<f64>> {
    Ok(t.read_f32(&e.ctx)?.iter().map(|&v| v as f64).collect())
}

/// Values exact in f32 (so the reference sees what the GPU sees), in [-1, 1).
fn values(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) as f32 as f64).collect()
}

fn compare(what: &str, got: &[f64], want: &[f64]) -> Result<()> {
    let (atol, rtol) = F32_TOLERANCE;
    check_close(what, got, want, atol, rtol).map_err(Error::Gpu)
}

/// Products of every layout the variants take (vec4-aligned and not, batched, transposed,
/// broadcast weights), forward and both gradients, against the reference.
pub fn matmul_matches(e: &Engine) -> Result<()> {
    let mut rng = Rng::new(17);
    let dims = [(1, 37, 29, 53), (2, 36, 44, 20), (1, 140, 36, 12), (2, 129, 132, 16)];
    for (batch, m, n, k) in dims {
        for (trans_a, trans_b, broadcast_b) in [(false, false, false), (false, true, true), (true, false, false)] {
            let s = MatmulShape { trans_a, trans_b, broadcast_b, ..MatmulShape::new(batch, m, n, k) };
            let (a, b, bias, dc) = (
                values(&mut rng, s.a_len()),
                values(&mut rng, s.b_len()),
                values(&mut rng, n),
                values(&mut rng, s.c_len()),
            );
            let (ga, gb, gbias, gdc) =
                (upload(e, "a", &a)?, upload(e, "b", &b)?, upload(e, "bias", &bias)?, upload(e, "dc", &dc)?);
            let gc = GpuTensor::zeros(&e.ctx, "c", &[s.c_len()])?;
            let (gda, gdb) =
                (GpuTensor::zeros(&e.ctx, "da", &[s.a_len()])?, GpuTensor::zeros(&e.ctx, "db", &[s.b_len()])?);
            let gdbias = GpuTensor::zeros(&e.ctx, "dbias", &[n])?;
            let forward = matmul::forward(e, &s, &ga, &gb, Some(&gbias), &gc, 0.5, false)?;
            let backward = matmul::backward(e, &s, &ga, &gb, &gdc, Some(&gda), Some(&gdb), Some(&gdbias), 0.5, false)?;
            let mut all = vec![&forward];
            all.extend(backward.iter());
            e.run(&all)?;
            let what = format!("matmul {batch}x{m}x{n}x{k} trans_a {trans_a} trans_b {trans_b}");
            compare(&what, &download(e, &gc)?, &reference::matmul::forward(&s, &a, &b, Some(&bias), 0.5))?;
            let (da, db, dbias) = reference::matmul::backward(&s, &a, &b, &dc, 0.5);
            compare(&format!("{what}: dA"), &download(e, &gda)?, &da)?;
            compare(&format!("{what}: dB"), &download(e, &gdb)?, &db)?;
            compare(&format!("{what}: dbias"), &download(e, &gdbias)?, &dbias)?;
        }
    }
    Ok(())
}

/// LayerNorm forward and backward over rows of widths below, at and above a workgroup.
pub fn layernorm_matches(e: &Engine) -> Result<()> {
    let mut rng = Rng::new(19);
    for (rows, d) in [(3, 5), (17, 96), (5, 300)] {
        let (x, w, b, dy) =
            (values(&mut rng, rows * d), values(&mut rng, d), values(&mut rng, d), values(&mut rng, rows * d));
        let (gx, gw, gb, gdy) = (upload(e, "x", &x)?, upload(e, "w", &w)?, upload(e, "b", &b)?, upload(e, "dy", &dy)?);
        let zeros = |name: &str, n: usize| GpuTensor::zeros(&e.ctx, name, &[n]);
        let (gy, gmean, grstd) = (zeros("y", rows * d)?, zeros("mean", rows)?, zeros("rstd", rows)?);
        let (gdx, gdw, gdb) = (zeros("dx", rows * d)?, zeros("dw", d)?, zeros("db", d)?);
        let forward = layernorm::forward(e, &gx, &gw, &gb, &gy, &gmean, &grstd, 1e-6)?;
        let backward = layernorm::backward(e, &gx, &gw, &gmean, &grstd, &gdy, &gdx, &gdw, &gdb, false)?;
        let mut all = vec![&forward];
        all.extend(backward.iter());
        e.run(&all)?;
        let (y, _, _) = reference::layernorm::forward(&x, &w, &b, rows, d, 1e-6);
        let (dx, dw, db) = reference::layernorm::backward(&x, &w, &dy, rows, d, 1e-6);
        let what = format!("layernorm {rows}x{d}");
        compare(&what, &download(e, &gy)?, &y)?;
        compare(&format!("{what}: dx"), &download(e, &gdx)?, &dx)?;
        compare(&format!("{what}: dw"), &download(e, &gdw)?, &dw)?;
        compare(&format!("{what}: db"), &download(e, &gdb)?, &db)?;
    }
    Ok(())
}

/// The fused attention forward and backward, with the one-way mask and without, at the head
/// width the tiled kernels take (64) and one they do not.
pub fn attention_matches(e: &Engine) -> Result<()> {
    let mut rng = Rng::new(23);
    let shapes = [(2, 27, 2, 64, 21, false), (1, 70, 1, 64, 66, true), (2, 13, 3, 12, 9, false)];
    for (batch, tokens, heads, head_dim, n_base, bidirectional) in shapes {
        let s = AttentionShape {
            batch,
            tokens,
            heads,
            head_dim,
            n_base,
            query_attends: QueryAttends::ClsPatchesSelf,
            bidirectional,
        };
        let (qkv, dout) = (values(&mut rng, s.qkv_len()), values(&mut rng, s.out_len()));
        let (gqkv, gdout) = (upload(e, "qkv", &qkv)?, upload(e, "dout", &dout)?);
        let gout = GpuTensor::zeros(&e.ctx, "out", &[s.out_len()])?;
        let glse = GpuTensor::zeros(&e.ctx, "lse", &[s.lse_len()])?;
        let gdqkv = GpuTensor::zeros(&e.ctx, "dqkv", &[s.qkv_len()])?;
        let forward = attention::forward(e, &s, &gqkv, &gout, &glse)?;
        e.run(&[&forward])?;
        let backward = attention::backward(e, &s, &gqkv, &gout, &glse, &gdout, &gdqkv)?;
        e.run(&backward.iter().collect::<Vec<_>>())?;
        let (out, lse) = reference::attention::forward(&s, &qkv);
        let what = format!("attention b{batch} t{tokens} h{heads} d{head_dim}");
        compare(&what, &download(e, &gout)?, &out)?;
        compare(&format!("{what}: lse"), &download(e, &glse)?, &lse)?;
        compare(&format!("{what}: dqkv"), &download(e, &gdqkv)?, &reference::attention::backward(&s, &qkv, &dout))?;
    }
    Ok(())
}
