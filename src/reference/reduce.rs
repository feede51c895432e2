//! Column sums (the reference of shaders/reduce.wgsl): bias gradients and the second pass of
//! every two-pass reduction over rows.

/// dst [cols]: dst[j] = sum_i src[i, j], src [rows, cols].
pub fn column_sum(src: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut dst = vec![0.0; cols];
    for row in src[..rows * cols].chunks_exact(cols.max(1)) {
        for (d, v) in dst.iter_mut().zip(row) {
            *d += v;
        }
    }
    dst
}
