//! Seed-paired differences between two cells of a grid: the same seed gives both arms the same
//! initialisation and data stream, so the per-seed difference removes most of the run-to-run
//! spread. Mean and a 95% Student-t interval over the seeds both cells finished.

/// The per-seed differences `a - b` of one figure, with their mean and 95% interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Paired {
    /// (seed, a - b) for every seed both sides report.
    pub per_seed: Vec<(u64, f64)>,
    pub mean: f64,
    /// Half-width of the 95% interval of the mean (None with fewer than two seeds).
    pub half_width: Option<f64>,
}

impl Paired {
    /// "+1.23 +- 0.45 (4 seeds)", or "+1.23 (1 seed)".
    pub fn text(&self) -> String {
        let n = self.per_seed.len();
        let seeds = if n == 1 { "1 seed".to_string() } else { format!("{n} seeds") };
        match self.half_width {
            Some(h) => format!("{:+.2} +- {h:.2} ({seeds})", self.mean),
            None => format!("{:+.2} ({seeds})", self.mean),
        }
    }

    /// Whether the interval excludes zero (the difference is clear at 95%).
    pub fn excludes_zero(&self) -> bool {
        self.half_width.is_some_and(|h| self.mean.abs() > h)
    }
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        // Within 0.002 of the exact quantile beyond 30 degrees of freedom.
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// `a - b` seed by seed over the seeds both lists hold (values: (seed, figure)); None when
/// they share no seed.
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Paired> {
    let per_seed: Vec<(u64, f64)> =
        a.iter().filter_map(|&(s, x)| b.iter().find(|(t, _)| *t == s).map(|&(_, y)| (s, x - y))).collect();
    let n = per_seed.len();
    if n == 0 {
        return None;
    }
    let mean = per_seed.iter().map(|(_, d)| d).sum::<f64>() / n as f64;
    let half_width = (n > 1).then(|| {
        let var = per_seed.iter().map(|(_, d)| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t95(n - 1) * (var / n as f64).sqrt()
    });
    Some(Paired { per_seed, mean, half_width })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_differences_use_shared_seeds_and_a_t_interval() {
        let a = [(0, 10.0), (1, 12.0), (2, 11.0), (3, 13.0)];
        // Seed 3 has no partner; seed 9 is only in b.
        let b = [(0, 9.0), (1, 10.0), (2, 11.0), (9, 0.0)];
        let p = paired(&a, &b).unwrap();
        assert_eq!(p.per_seed, vec![(0, 1.0), (1, 2.0), (2, 0.0)]);
        assert!((p.mean - 1.0).abs() < 1e-12);
        // Sample sd 1, n 3: 4.303 / sqrt(3).
        assert!((p.half_width.unwrap() - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert!(!p.excludes_zero());
        assert_eq!(p.text(), "+1.00 +- 2.48 (3 seeds)");
        let one = paired(&a[..1], &b).unwrap();
        assert_eq!((one.half_width, one.text()), (None, "+1.00 (1 seed)".to_string()));
        assert!(paired(&a[3..], &b).is_none());
        // A constant shift is clear at any n > 1.
        let shifted: Vec<(u64, f64)> = a.iter().map(|&(s, x)| (s, x - 0.5)).collect();
        assert!(paired(&a, &shifted).unwrap().excludes_zero());
    }

    #[test]
    fn t_quantiles_match_the_table_and_approach_the_normal() {
        assert_eq!(t95(1), 12.706);
        assert_eq!(t95(3), 3.182);
        assert!((t95(60) - 2.000).abs() < 0.002 && (t95(120) - 1.980).abs() < 0.002);
        assert!(t95(0).is_nan());
    }
}
