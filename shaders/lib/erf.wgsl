// erf for WGSL (which has none): Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7.

fn erf_approx(z: f32) -> f32 {
    let a = abs(z);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return sign(z) * (1.0 - poly * exp(-a * a));
}

// Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
fn gelu(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
}

// d GELU / dx = Phi(x) + x phi(x), phi the standard normal density.
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf_approx(x * 0.70710678118654752));
    let pdf = 0.3989422804014327 * exp(-0.5 * x * x);
    return cdf + x * pdf;
}
