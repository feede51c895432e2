//! ADCLR masked multi-head attention (reference): explicit scores, mask and softmax.

pub use crate::spec::config::QueryAttends;

/// Tokens per image are [CLS, RP_1..RP_N, QP_1..QP_Q]; n_base = 1 + N.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    pub batch: usize,
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub n_base: usize,
    pub query_attends: QueryAttends,
    pub bidirectional: bool,
}

impl AttentionShape {
    /// Whether token `i` (row) attends to token `j` (column).
    pub fn attends(&self, i: usize, j: usize) -> bool {
        if self.bidirectional {
            return true;
        }
        if i < self.n_base {
            return j < self.n_base;
        }
        match self.query_attends {
            QueryAttends::ClsPatchesSelf => j < self.n_base || j == i,
            QueryAttends::ClsPatches => j < self.n_base,
            QueryAttends::Patches => j >= 1 && j < self.n_base,
            QueryAttends::All => true,
        }
    }
    pub fn scale(&self) -> f64 {
        1.0 / (self.head_dim as f64).sqrt()
    }
    pub fn qkv_len(&self) -> usize {
        self.batch * self.tokens * 3 * self.heads * self.head_dim
    }
    pub fn out_len(&self) -> usize {
        self.batch * self.tokens * self.heads * self.head_dim
    }
    pub fn lse_len(&self) -> usize {
        self.batch * self.heads * self.tokens
    }
    /// Offset of head `h`'s slice of `part` (0 q, 1 k, 2 v) for token `t` of image `b`
    /// in qkv [batch, tokens, 3, heads, head_dim].
    pub fn qkv_offset(&self, b: usize, t: usize, part: usize, h: usize) -> usize {
        (((b * self.tokens + t) * 3 + part) * self.heads + h) * self.head_dim
    }
    pub fn out_offset(&self, b: usize, t: usize, h: usize) -> usize {
        ((b * self.tokens + t) * self.heads + h) * self.head_dim
    }

    /// Probabilities of row i over all columns (0 where masked) for image b, head h.
    fn probs(&self, qkv: &[f64], b: usize, h: usize, i: usize) -> Vec<f64> {
        let hd = self.head_dim;
        let qo = self.qkv_offset(b, i, 0, h);
        let scores: Vec<Option<f64>> = (0..self.tokens)
            .map(|j| {
                self.attends(i, j).then(|| {
                    let ko = self.qkv_offset(b, j, 1, h);
                    self.scale() * (0..hd).map(|d| qkv[qo + d] * qkv[ko + d]).sum::<f64>()
                })
            })
            .collect();
        let m = scores.iter().flatten().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = scores.iter().flatten().map(|s| (s - m).exp()).sum();
        scores.iter().map(|s| s.map_or(0.0, |s| (s - m).exp() / sum)).collect()
    }
}

/// Returns (out [batch, tokens, heads, head_dim], lse [batch, heads, tokens]).
pub fn forward(s: &AttentionShape, qkv: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let hd = s.head_dim;
    let mut out = vec![0.0; s.out_len()];
    let mut lse = vec![0.0; s.lse_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..s.tokens {
                let p = s.probs(qkv, b, h, i);
                let oo = s.out_offset(b, i, h);
                for (j, pj) in p.iter().enumerate() {
                    let vo = s.qkv_offset(b, j, 2, h);
                    for d in 0..hd {
                        out[oo + d] += pj * qkv[vo + d];
                    }
                }
                let qo = s.qkv_offset(b, i, 0, h);
                let scores: Vec<f64> = (0..s.tokens)
                    .filter(|&j| s.attends(i, j))
                    .map(|j| {
                        let ko = s.qkv_offset(b, j, 1, h);
                        s.scale() * (0..hd).map(|d| qkv[qo + d] * qkv[ko + d]).sum::<f64>()
                    })
                    .collect();
                if !scores.is_empty() {
                    let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    lse[(b * s.heads + h) * s.tokens + i] = m + scores.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
                }
            }
        }
    }
    (out, lse)
}

/// dqkv from dout, through the explicit softmax Jacobian.
pub fn backward(s: &AttentionShape, qkv: &[f64], dout: &[f64]) -> Vec<f64> {
    let hd = s.head_dim;
    let mut dqkv = vec![0.0; s.qkv_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..s.tokens {
                let p = s.probs(qkv, b, h, i);
                let oo = s.out_offset(b, i, h);
                let qo = s.qkv_offset(b, i, 0, h);
                // dP_ij = dO_i . v_j ; dS_ij = P_ij (dP_ij - sum_l P_il dP_il)
                let dp: Vec<f64> = (0..s.tokens)
                    .map(|j| {
                        let vo = s.qkv_offset(b, j, 2, h);
                        (0..hd).map(|d| dout[oo + d] * qkv[vo + d]).sum()
                    })
                    .collect();
                let mix: f64 = p.iter().zip(&dp).map(|(a, b)| a * b).sum();
                for j in 0..s.tokens {
                    if p[j] == 0.0 && !s.attends(i, j) {
                        continue;
                    }
                    let ds = p[j] * (dp[j] - mix) * s.scale();
                    let ko = s.qkv_offset(b, j, 1, h);
                    let vo = s.qkv_offset(b, j, 2, h);
                    for d in 0..hd {
                        dqkv[qo + d] += ds * qkv[ko + d];
                        dqkv[ko + d] += ds * qkv[qo + d];
                        dqkv[vo + d] += p[j] * dout[oo + d];
                    }
                }
            }
        }
    }
    dqkv
}
