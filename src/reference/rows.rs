//! Row gather and scatter (reference of shaders/rows.wgsl): the CLS and query rows that enter
//! the head, and their gradients back.

/// Row gather: out[r] = src[index[r]].
pub fn gather(src: &[f64], index: &[usize], dim: usize) -> Vec<f64> {
    index.iter().flat_map(|&i| src[i * dim..(i + 1) * dim].to_vec()).collect()
}

/// Row scatter (gather's backward): dsrc[index[r]] += dout[r], zero elsewhere.
pub fn scatter(dout: &[f64], index: &[usize], src_rows: usize, dim: usize) -> Vec<f64> {
    let mut dsrc = vec![0.0; src_rows * dim];
    for (r, &i) in index.iter().enumerate() {
        for k in 0..dim {
            dsrc[i * dim + k] += dout[r * dim + k];
        }
    }
    dsrc
}
