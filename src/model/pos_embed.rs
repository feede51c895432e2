//! Bicubic resizing of the positional table for other grids (local crops), as a matrix so the
//! GPU applies it with a matmul and its backward is the transpose.
//! Semantics of torch's F.interpolate(mode="bicubic", align_corners=False) with a = -0.75.

fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let w1 = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0; // |x| <= 1
    let w2 = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A; // 1 < |x| < 2
    [w2(t + 1.0), w1(t), w1(1.0 - t), w2(2.0 - t)]
}

/// [n_out, n_in] weights of a 1-D bicubic resize (borders clamped).
pub fn bicubic_1d(n_in: usize, n_out: usize) -> Vec<f64> {
    let mut m = vec![0.0; n_out * n_in];
    let scale = n_in as f64 / n_out as f64;
    for o in 0..n_out {
        let src = (o as f64 + 0.5) * scale - 0.5;
        let base = src.floor();
        let w = cubic_weights(src - base);
        for (k, wk) in w.iter().enumerate() {
            let idx = (base as i64 - 1 + k as i64).clamp(0, n_in as i64 - 1) as usize;
            m[o * n_in + idx] += wk;
        }
    }
    m
}

/// [1 + g_out^2, 1 + g_in^2]: CLS maps to itself, the patch grid is resized bicubically.
pub fn resize_matrix(g_in: usize, g_out: usize) -> Vec<f64> {
    let (n_in, n_out) = (1 + g_in * g_in, 1 + g_out * g_out);
    let w = bicubic_1d(g_in, g_out);
    let mut m = vec![0.0; n_out * n_in];
    m[0] = 1.0;
    for oy in 0..g_out {
        for ox in 0..g_out {
            let row = 1 + oy * g_out + ox;
            for iy in 0..g_in {
                for ix in 0..g_in {
                    m[row * n_in + 1 + iy * g_in + ix] = w[oy * g_in + iy] * w[ox * g_in + ix];
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity_and_rows_sum_to_one() {
        let m = resize_matrix(4, 4);
        for r in 0..17 {
            for c in 0..17 {
                assert!((m[r * 17 + c] - if r == c { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let m = resize_matrix(8, 3);
        for r in 0..10 {
            let s: f64 = m[r * 65..(r + 1) * 65].iter().sum();
            assert!((s - 1.0).abs() < 1e-12, "row {r} sums to {s}");
        }
    }

    #[test]
    fn downsampling_by_two_matches_torch_bicubic_weights() {
        // Worked by hand from torch's bicubic kernel: output 0 samples source 0.5 (t = 0.5),
        // taps at -1 (clamped to 0), 0, 1, 2 with weights -0.09375, 0.59375, 0.59375, -0.09375;
        // of [0, 1, 2, 3] that is 0.40625, and output 1 (source 2.5) gives 2.59375.
        let w = bicubic_1d(4, 2);
        let x = [0.0, 1.0, 2.0, 3.0];
        let y: Vec<f64> = (0..2).map(|o| (0..4).map(|i| w[o * 4 + i] * x[i]).sum()).collect();
        assert!((y[0] - 0.40625).abs() < 1e-12 && (y[1] - 2.59375).abs() < 1e-12, "{y:?}");
    }
}
