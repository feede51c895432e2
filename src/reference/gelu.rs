//! Exact (erf) GELU and its backward.

const INV_SQRT2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

pub fn forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| 0.5 * v * (1.0 + libm::erf(v * INV_SQRT2))).collect()
}

pub fn backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(&v, &g)| g * (0.5 * (1.0 + libm::erf(v * INV_SQRT2)) + v * INV_SQRT_2PI * (-0.5 * v * v).exp()))
        .collect()
}
