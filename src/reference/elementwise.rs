//! Scaled sums (shaders/elementwise.wgsl): out = alpha * a + beta * b; backward da = alpha dy, db = beta dy.

pub fn add_scaled(a: &[f64], b: &[f64], alpha: f64, beta: f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| alpha * x + beta * y).collect()
}

pub fn add_scaled_backward(dy: &[f64], alpha: f64, beta: f64) -> (Vec<f64>, Vec<f64>) {
    (dy.iter().map(|g| alpha * g).collect(), dy.iter().map(|g| beta * g).collect())
}
