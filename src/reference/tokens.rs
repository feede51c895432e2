//! Token assembly (reference) and its backward.

/// A group of `images` views with N patches and Q query tokens each: T = 1 + N + Q.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenShape {
    pub images: usize,
    pub patches: usize,
    pub queries: usize,
    pub dim: usize,
}

impl TokenShape {
    pub fn tokens(&self) -> usize {
        1 + self.patches + self.queries
    }
    pub fn x_len(&self) -> usize {
        self.images * self.tokens() * self.dim
    }
}

pub fn assemble(s: &TokenShape, cls: &[f64], pos: &[f64], patch_proj: &[f64], query_proj: &[f64]) -> Vec<f64> {
    let (t_n, d) = (s.tokens(), s.dim);
    let mut x = vec![0.0; s.x_len()];
    for img in 0..s.images {
        for t in 0..t_n {
            for k in 0..d {
                x[(img * t_n + t) * d + k] = if t == 0 {
                    cls[k] + pos[k]
                } else if t <= s.patches {
                    patch_proj[(img * s.patches + t - 1) * d + k] + pos[t * d + k]
                } else {
                    query_proj[(img * s.queries + t - 1 - s.patches) * d + k]
                };
            }
        }
    }
    x
}

/// Returns (dcls, dpos, dpatch, dquery).
pub fn backward(s: &TokenShape, dx: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (t_n, d) = (s.tokens(), s.dim);
    let mut dcls = vec![0.0; d];
    let mut dpos = vec![0.0; (1 + s.patches) * d];
    let mut dpatch = vec![0.0; s.images * s.patches * d];
    let mut dquery = vec![0.0; s.images * s.queries * d];
    for img in 0..s.images {
        for t in 0..t_n {
            for k in 0..d {
                let g = dx[(img * t_n + t) * d + k];
                if t == 0 {
                    dcls[k] += g;
                    dpos[k] += g;
                } else if t <= s.patches {
                    dpatch[(img * s.patches + t - 1) * d + k] = g;
                    dpos[t * d + k] += g;
                } else {
                    dquery[(img * s.queries + t - 1 - s.patches) * d + k] = g;
                }
            }
        }
    }
    (dcls, dpos, dpatch, dquery)
}
