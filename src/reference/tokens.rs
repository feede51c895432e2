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

/// Row gather: out[r] = src[index[r]].
pub fn gather(src: &[f64], index: &[usize], dim: usize) -> Vec<f64> {
    index.iter().flat_map(|&i| src[i * dim..(i + 1) * dim].to_vec()).collect()
}

/// Row scatter (gather's backward): dsrc[index[r]] += dout[r], zero elsewhere.
pub fn scatter(dout: &[f64], index: &[usize], src_rows: usize, dim: usize) -> Vec<f64> {
    let mut dsrc = vec![0.0; src_rows * dim];
    for (r, &i) in index.iter().enumerate() {
        for k in 0..dim {
            dsrc[i * dim + k] += dout[r * dim + k];
        }
    }
    dsrc
}

/// Residual with per-sample scaling: x + scale[sample] * branch.
pub fn residual(x: &[f64], branch: &[f64], scale: &[f64], dim: usize, rows_per_sample: usize) -> Vec<f64> {
    let per = dim * rows_per_sample;
    x.iter().zip(branch).enumerate().map(|(i, (a, b))| a + scale[i / per] * b).collect()
}

/// dbranch of `residual` (dx = dout).
pub fn residual_branch_grad(dout: &[f64], scale: &[f64], dim: usize, rows_per_sample: usize) -> Vec<f64> {
    let per = dim * rows_per_sample;
    dout.iter().enumerate().map(|(i, g)| scale[i / per] * g).collect()
}
