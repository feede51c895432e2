//! A 2-D map of features (`adclr-wgpu embed`): the features projected on their first two
//! principal components, and how well classes separate in that map (leave-one-out k-NN in 2-D),
//! so a picture of the features comes with a number that says what it shows.
//!
//! PCA, not t-SNE or UMAP: deterministic, seconds for thousands of images, and its axes mean the
//! same in the trained and the random-init map (the share of variance each one holds).

/// Features projected on their first two principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct Map2d {
    /// [n] (x, y) coordinates: the centred features on PC 1 and PC 2.
    pub points: Vec<(f64, f64)>,
    /// Share of the total variance on PC 1 and PC 2 (0..1).
    pub explained: [f64; 2],
}

/// Power-iteration steps per component: the map only needs a stable picture, and a gap between
/// the first eigenvalues this small is rare in trained features.
const POWER_STEPS: usize = 500;

/// The PCA map of `features` ([n, dim], row-major).
pub fn pca_2d(features: &[f32], dim: usize) -> Result<Map2d, String> {
    let n = features.len().checked_div(dim).unwrap_or(0);
    if n < 3 || features.len() != n * dim {
        return Err(format!("a 2-D map needs 3 or more feature rows of {dim} values (got {} values)", features.len()));
    }
    let mut mean = vec![0f64; dim];
    for row in features.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / n as f64;
        }
    }
    // Covariance [dim, dim] of the centred rows.
    let mut cov = vec![0f64; dim * dim];
    let mut centred = vec![0f64; dim];
    for row in features.chunks_exact(dim) {
        for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = v as f64 - m;
        }
        for i in 0..dim {
            let ci = centred[i];
            for (c, cj) in cov[i * dim..(i + 1) * dim].iter_mut().zip(&centred) {
                *c += ci * cj;
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= (n - 1) as f64);
    let total: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
    if total.is_nan() || total <= 0.0 {
        return Err("the features do not vary (every row the same): no map to draw".into());
    }
    let (pc1, l1) = top_eigenvector(&cov, dim, None);
    let (pc2, l2) = top_eigenvector(&cov, dim, Some((&pc1, l1)));
    let points = features
        .chunks_exact(dim)
        .map(|row| {
            let project =
                |pc: &[f64]| row.iter().zip(&mean).zip(pc).map(|((&v, m), p)| (v as f64 - m) * p).sum::<f64>();
            (project(&pc1), project(&pc2))
        })
        .collect();
    Ok(Map2d { points, explained: [l1 / total, l2 / total] })
}

/// The map `adclr-wgpu embed` draws: each row of `features` ([n, dim]) L2-normalised (as k-NN
/// compares them), then each coordinate z-scored (a few coordinates of large spread would
/// otherwise be the whole map), then `pca_2d`.
pub fn cosine_map_2d(features: &[f32], dim: usize) -> Result<Map2d, String> {
    let mut rows = features.to_vec();
    for row in rows.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let n = (rows.len() / dim.max(1)).max(1) as f64;
    let (mut mean, mut sq) = (vec![0f64; dim], vec![0f64; dim]);
    for row in rows.chunks_exact(dim.max(1)) {
        for ((m, s), &v) in mean.iter_mut().zip(&mut sq).zip(row) {
            *m += v as f64 / n;
            *s += (v as f64).powi(2) / n;
        }
    }
    let std: Vec<f64> = mean.iter().zip(&sq).map(|(m, s)| (s - m * m).max(0.0).sqrt()).collect();
    for row in rows.chunks_exact_mut(dim.max(1)) {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&std) {
            *v = if *s > 1e-12 { ((*v as f64 - m) / s) as f32 } else { 0.0 };
        }
    }
    pca_2d(&rows, dim)
}

/// The leading eigenvector (unit length, its largest entry positive) and eigenvalue of the
/// symmetric matrix `m` [dim, dim], with `deflate`'s component removed first.
fn top_eigenvector(m: &[f64], dim: usize, deflate: Option<(&[f64], f64)>) -> (Vec<f64>, f64) {
    // With `deflate`, every vector is kept orthogonal to the first axis (removing its eigenvalue
    // alone would let rounding noise along it grow back).
    let orthogonal = |w: &mut Vec<f64>| {
        if let Some((u, _)) = deflate {
            let along: f64 = u.iter().zip(w.iter()).map(|(a, b)| a * b).sum();
            w.iter_mut().zip(u).for_each(|(o, ui)| *o -= along * ui);
        }
    };
    let apply = |v: &[f64]| -> Vec<f64> {
        let mut out: Vec<f64> =
            (0..dim).map(|i| m[i * dim..(i + 1) * dim].iter().zip(v).map(|(a, b)| a * b).sum()).collect();
        orthogonal(&mut out);
        out
    };
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    // The matrix's scale: below 1e-12 of it a direction holds no variance.
    let scale: f64 = (0..dim).map(|i| m[i * dim + i].abs()).sum::<f64>().max(f64::MIN_POSITIVE);
    // A start with a part along every direction (no symmetry of the data can cancel it).
    let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + (i as f64 * 0.618_034).fract()).collect();
    orthogonal(&mut v);
    let n0 = norm(&v).max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n0);
    let mut value = 0.0;
    for _ in 0..POWER_STEPS {
        let w = apply(&v);
        value = norm(&w);
        if value <= 1e-12 * scale {
            // No variance left in any direction: a zero axis.
            return (vec![0.0; dim], 0.0);
        }
        v = w.iter().map(|x| x / value).collect();
    }
    let largest = v.iter().copied().fold(0.0, |a: f64, b| if b.abs() > a.abs() { b } else { a });
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    (v, value)
}

/// Leave-one-out k-NN accuracy (%) in the 2-D map: each point labelled by the majority of its
/// `k` nearest other points (ties to the nearest point's class). High when classes form
/// separate regions of the picture.
pub fn knn_2d(points: &[(f64, f64)], labels: &[usize], k: usize) -> f64 {
    let n = points.len().min(labels.len());
    if n < 2 || k == 0 {
        return 0.0;
    }
    let classes = labels.iter().copied().max().unwrap_or(0) + 1;
    let mut right = 0;
    let mut near: Vec<(f64, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        near.clear();
        near.extend((0..n).filter(|&j| j != i).map(|j| {
            let (dx, dy) = (points[i].0 - points[j].0, points[i].1 - points[j].1);
            (dx * dx + dy * dy, labels[j])
        }));
        let k = k.min(near.len());
        near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        near[..k].sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut votes = vec![0usize; classes];
        near[..k].iter().for_each(|&(_, c)| votes[c] += 1);
        let most = *votes.iter().max().unwrap_or(&0);
        // The nearest point among the tied classes decides.
        let pick = near[..k].iter().find(|&&(_, c)| votes[c] == most).map(|&(_, c)| c);
        right += (pick == Some(labels[i])) as usize;
    }
    100.0 * right as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_axes_of_largest_variance_and_their_shares() {
        // 3-D points on a grid along three orthogonal axes (rotated) with variances 9 : 4 : 1.
        let (a, b, c) = ([0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]);
        let mut rows = Vec::new();
        for i in -2i32..=2 {
            for j in -2i32..=2 {
                for l in -2i32..=2 {
                    let (x, y, z) = (3.0 * i as f64, 2.0 * j as f64, l as f64);
                    for d in 0..3 {
                        rows.push((x * a[d] + y * b[d] + z * c[d] + 5.0) as f32);
                    }
                }
            }
        }
        let m = pca_2d(&rows, 3).unwrap();
        assert!((m.explained[0] - 9.0 / 14.0).abs() < 1e-6 && (m.explained[1] - 4.0 / 14.0).abs() < 1e-6, "{m:?}");
        // The first point is (i, j, l) = (-2, -2, -2): 3 * -2 on PC 1 and 2 * -2 on PC 2, up to
        // the sign each axis is given (its largest entry positive: PC 1 = a, PC 2 = -b).
        assert!((m.points[0].0 + 6.0).abs() < 1e-5 && (m.points[0].1 - 4.0).abs() < 1e-5, "{:?}", m.points[0]);
        assert!(pca_2d(&[1.0; 12], 4).unwrap_err().contains("do not vary"));
        // Points on a line: one axis holds everything, the second is zero.
        let line: Vec<f32> = (0..5).flat_map(|t| [t as f32, 2.0 * t as f32]).collect();
        let m = pca_2d(&line, 2).unwrap();
        assert!((m.explained[0] - 1.0).abs() < 1e-9 && m.explained[1].abs() < 1e-9, "{m:?}");
        assert!(m.points.iter().all(|p| p.1.abs() < 1e-9), "{m:?}");
        assert!(pca_2d(&[1.0, 2.0], 1).unwrap_err().contains("3 or more"));
    }

    #[test]
    fn the_cosine_map_ignores_row_length_and_coordinate_scale() {
        // Two directions, each row at a different length, the second coordinate 1000x larger:
        // after L2 and z-scoring, the rows of a direction meet at one point of the map.
        let rows: Vec<f32> =
            (1..=6).flat_map(|i| if i % 2 == 0 { [i as f32, 0.0] } else { [0.0, 1000.0 * i as f32] }).collect();
        let m = cosine_map_2d(&rows, 2).unwrap();
        let (even, odd) = (m.points[1], m.points[0]);
        for (i, p) in m.points.iter().enumerate() {
            let want = if i % 2 == 1 { even } else { odd };
            assert!((p.0 - want.0).abs() < 1e-6 && (p.1 - want.1).abs() < 1e-6, "{:?}", m.points);
        }
        assert!((even.0 - odd.0).abs() > 1.0, "{:?}", m.points);
        assert!(cosine_map_2d(&[1.0, 2.0], 2).unwrap_err().contains("3 or more"));
    }

    #[test]
    fn knn_in_the_map_tells_separate_classes_from_mixed_ones() {
        // Two clusters far apart: every point's neighbours share its class.
        let points: Vec<(f64, f64)> = (0..20).map(|i| ((i / 10) as f64 * 100.0 + (i % 10) as f64, 0.0)).collect();
        let labels: Vec<usize> = (0..20).map(|i| i / 10).collect();
        assert_eq!(knn_2d(&points, &labels, 5), 100.0);
        // Alternating labels along a line: the two nearest points are always the other class.
        let alternating: Vec<usize> = (0..20).map(|i| i % 2).collect();
        let line: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 0.0)).collect();
        assert_eq!(knn_2d(&line, &alternating, 2), 0.0);
    }
}
