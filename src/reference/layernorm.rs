//! LayerNorm over the last dimension, and its backward.

/// Returns (y [rows, d], mean [rows], rstd [rows]).
pub fn forward(x: &[f64], w: &[f64], b: &[f64], rows: usize, d: usize, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; rows * d];
    let mut mean = vec![0.0; rows];
    let mut rstd = vec![0.0; rows];
    for r in 0..rows {
        let xr = &x[r * d..(r + 1) * d];
        let mu = xr.iter().sum::<f64>() / d as f64;
        let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / d as f64;
        let rs = 1.0 / (var + eps).sqrt();
        for j in 0..d {
            y[r * d + j] = (xr[j] - mu) * rs * w[j] + b[j];
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
    (y, mean, rstd)
}

/// Returns (dx, dw, db).
pub fn backward(x: &[f64], w: &[f64], dy: &[f64], rows: usize, d: usize, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (_, mean, rstd) = forward(x, w, &vec![0.0; d], rows, d, eps);
    let mut dx = vec![0.0; rows * d];
    let mut dw = vec![0.0; d];
    let mut db = vec![0.0; d];
    for r in 0..rows {
        let xhat: Vec<f64> = (0..d).map(|j| (x[r * d + j] - mean[r]) * rstd[r]).collect();
        let g: Vec<f64> = (0..d).map(|j| dy[r * d + j] * w[j]).collect();
        let mean_g = g.iter().sum::<f64>() / d as f64;
        let mean_gx = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / d as f64;
        for j in 0..d {
            dx[r * d + j] = rstd[r] * (g[j] - mean_g - xhat[j] * mean_gx);
            dw[j] += dy[r * d + j] * xhat[j];
            db[j] += dy[r * d + j];
        }
    }
    (dx, dw, db)
}
