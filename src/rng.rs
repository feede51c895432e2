//! A small deterministic random generator (SplitMix64) whose whole state is one u64, so it
//! can be saved in a checkpoint and resumed exactly.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    pub state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed ^ 0x5DEE_CE66_D1CE_4E5B }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Normal(0, std) truncated to [lo, hi] by rejection (timm's trunc_normal_ bounds are
    /// absolute: [-2, 2]).
    pub fn trunc_normal(&mut self, std: f64, lo: f64, hi: f64) -> f64 {
        loop {
            let v = self.normal() * std;
            if (lo..=hi).contains(&v) {
                return v;
            }
        }
    }

    /// An independent generator derived from this one (for a worker or a stream).
    pub fn fork(&mut self) -> Rng {
        Rng { state: self.next_u64() }
    }
}
