//! Row L2 normalisation y = x / max(||x||, eps) and its backward.

pub fn forward(x: &[f64], rows: usize, d: usize, eps: f64) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; rows * d];
    let mut norm = vec![0.0; rows];
    for r in 0..rows {
        let n = x[r * d..(r + 1) * d].iter().map(|v| v * v).sum::<f64>().sqrt();
        for j in 0..d {
            y[r * d + j] = x[r * d + j] / n.max(eps);
        }
        norm[r] = n;
    }
    (y, norm)
}

pub fn backward(x: &[f64], dy: &[f64], rows: usize, d: usize, eps: f64) -> Vec<f64> {
    let (y, norm) = forward(x, rows, d, eps);
    let mut dx = vec![0.0; rows * d];
    for (r, &n) in norm.iter().enumerate().take(rows) {
        let range = r * d..(r + 1) * d;
        let dot: f64 = y[range.clone()].iter().zip(&dy[range.clone()]).map(|(a, b)| a * b).sum();
        for j in range {
            dx[j] = if n > eps { (dy[j] - y[j] * dot) / n } else { dy[j] / eps };
        }
    }
    dx
}
