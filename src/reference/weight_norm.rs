//! Weight normalisation w_k = g_k v_k / ||v_k|| (rows k) and its backward from dW.

pub fn forward(g: &[f64], v: &[f64], rows: usize, d: usize) -> Vec<f64> {
    let mut w = vec![0.0; rows * d];
    for r in 0..rows {
        let n = v[r * d..(r + 1) * d].iter().map(|x| x * x).sum::<f64>().sqrt();
        for j in 0..d {
            w[r * d + j] = g[r] * v[r * d + j] / n;
        }
    }
    w
}

/// Returns (dg [rows], dv [rows, d]).
pub fn backward(g: &[f64], v: &[f64], dw: &[f64], rows: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut dg = vec![0.0; rows];
    let mut dv = vec![0.0; rows * d];
    for r in 0..rows {
        let range = r * d..(r + 1) * d;
        let n = v[range.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
        let dot_u: f64 = v[range.clone()].iter().zip(&dw[range.clone()]).map(|(a, b)| a * b).sum::<f64>() / n;
        dg[r] = dot_u;
        for j in range {
            dv[j] = g[r] / n * (dw[j] - dot_u * v[j] / n);
        }
    }
    (dg, dv)
}
