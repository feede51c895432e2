//! Row softmax with temperature, y = softmax(x * inv_temp), and its backward.

pub fn forward(x: &[f64], rows: usize, cols: usize, inv_temp: f64) -> Vec<f64> {
    let mut y = vec![0.0; rows * cols];
    for r in 0..rows {
        let xr = &x[r * cols..(r + 1) * cols];
        let m = xr.iter().map(|v| v * inv_temp).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = xr.iter().map(|v| (v * inv_temp - m).exp()).sum();
        for j in 0..cols {
            y[r * cols + j] = (xr[j] * inv_temp - m).exp() / sum;
        }
    }
    y
}

/// Row log-softmax with temperature.
pub fn log_forward(x: &[f64], rows: usize, cols: usize, inv_temp: f64) -> Vec<f64> {
    forward(x, rows, cols, inv_temp).iter().map(|v| v.ln()).collect()
}

pub fn backward(y: &[f64], dy: &[f64], rows: usize, cols: usize, inv_temp: f64) -> Vec<f64> {
    let mut dx = vec![0.0; rows * cols];
    for r in 0..rows {
        let range = r * cols..(r + 1) * cols;
        let dot: f64 = y[range.clone()].iter().zip(&dy[range.clone()]).map(|(a, b)| a * b).sum();
        for j in range {
            dx[j] = inv_temp * y[j] * (dy[j] - dot);
        }
    }
    dx
}
