//! Normalised channel-first tensors and their flattening into patch rows.

use super::normalization::Normalization;
use image::RgbImage;

/// [3, H, W] floats: (pixel / 255 - mean) / std per channel.
pub fn normalize_chw(img: &RgbImage, norm: &Normalization) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0.0; 3 * h * w];
    for (x, y, p) in img.enumerate_pixels() {
        for c in 0..3 {
            out[c * h * w + y as usize * w + x as usize] = (p[c] as f32 / 255.0 - norm.mean[c]) / norm.std[c];
        }
    }
    out
}

/// Patch rows [ (S/P)^2, C*P*P ] of a [C, S, S] tensor, each patch flattened in the conv
/// weight's (channel, row, column) order, patches in raster order.
pub fn patchify(chw: &[f32], channels: usize, side: usize, patch: usize) -> Vec<f32> {
    let g = side / patch;
    let mut out = Vec::with_capacity(chw.len());
    for gy in 0..g {
        for gx in 0..g {
            for c in 0..channels {
                for py in 0..patch {
                    let row = c * side * side + (gy * patch + py) * side + gx * patch;
                    out.extend_from_slice(&chw[row..row + patch]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patchify_orders_channel_row_column() {
        // 2 channels, 4x4 image, patch 2: value = c*100 + y*10 + x.
        let side = 4;
        let chw: Vec<f32> = (0..2)
            .flat_map(|c| (0..side).flat_map(move |y| (0..side).map(move |x| (c * 100 + y * 10 + x) as f32)))
            .collect();
        let p = patchify(&chw, 2, side, 2);
        assert_eq!(p.len(), 4 * 8);
        // Patch 1 is grid (0, 1): x in 2..4, y in 0..2.
        assert_eq!(&p[8..16], &[2.0, 3.0, 12.0, 13.0, 102.0, 103.0, 112.0, 113.0]);
    }
}
