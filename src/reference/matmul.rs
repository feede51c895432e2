//! C = alpha * op(A) op(B) (+ bias), batched, and its backward.

/// Shapes and layouts of a (batched) matmul. op(A) is M x K, op(B) is K x N.
/// A is stored [M, K] row-major, or [K, M] when `trans_a`; B is stored [K, N], or [N, K]
/// when `trans_b` (a linear layer's weight). A `broadcast_*` operand has no batch dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulShape {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub broadcast_a: bool,
    pub broadcast_b: bool,
}

impl MatmulShape {
    pub fn new(batch: usize, m: usize, n: usize, k: usize) -> Self {
        Self { batch, m, n, k, trans_a: false, trans_b: false, broadcast_a: false, broadcast_b: false }
    }
    pub fn a_len(&self) -> usize {
        self.m * self.k * if self.broadcast_a { 1 } else { self.batch }
    }
    pub fn b_len(&self) -> usize {
        self.k * self.n * if self.broadcast_b { 1 } else { self.batch }
    }
    pub fn c_len(&self) -> usize {
        self.batch * self.m * self.n
    }
    /// Index of op(A)[b](i, kk) in A's storage.
    pub fn a_index(&self, b: usize, i: usize, kk: usize) -> usize {
        let base = if self.broadcast_a { 0 } else { b * self.m * self.k };
        base + if self.trans_a { kk * self.m + i } else { i * self.k + kk }
    }
    /// Index of op(B)[b](kk, j) in B's storage.
    pub fn b_index(&self, b: usize, kk: usize, j: usize) -> usize {
        let base = if self.broadcast_b { 0 } else { b * self.k * self.n };
        base + if self.trans_b { j * self.k + kk } else { kk * self.n + j }
    }
}

pub fn forward(s: &MatmulShape, a: &[f64], b: &[f64], bias: Option<&[f64]>, alpha: f64) -> Vec<f64> {
    let mut c = vec![0.0; s.c_len()];
    for bt in 0..s.batch {
        for i in 0..s.m {
            for j in 0..s.n {
                let mut acc = 0.0;
                for kk in 0..s.k {
                    acc += a[s.a_index(bt, i, kk)] * b[s.b_index(bt, kk, j)];
                }
                let mut v = alpha * acc;
                if let Some(bias) = bias {
                    v += bias[j];
                }
                c[(bt * s.m + i) * s.n + j] = v;
            }
        }
    }
    c
}

/// Gradients (dA, dB, dbias) in the storage layouts of A, B and bias, from dC [batch, M, N].
pub fn backward(s: &MatmulShape, a: &[f64], b: &[f64], dc: &[f64], alpha: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut da = vec![0.0; s.a_len()];
    let mut db = vec![0.0; s.b_len()];
    let mut dbias = vec![0.0; s.n];
    for bt in 0..s.batch {
        for i in 0..s.m {
            for j in 0..s.n {
                let g = dc[(bt * s.m + i) * s.n + j];
                dbias[j] += g;
                for kk in 0..s.k {
                    da[s.a_index(bt, i, kk)] += alpha * g * b[s.b_index(bt, kk, j)];
                    db[s.b_index(bt, kk, j)] += alpha * g * a[s.a_index(bt, i, kk)];
                }
            }
        }
    }
    (da, db, dbias)
}

/// Values as the f16-mixed kernels see their operands: rounded to the nearest f16 (ties to
/// even; beyond f16's range, infinite). Their reference is `forward` / `backward` on rounded
/// operands, accumulated exactly: the kernels accumulate in f32.
pub fn round_to_f16(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| half::f16::from_f64(v).to_f64()).collect()
}
