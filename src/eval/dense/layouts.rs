//! The rows the dense benchmark scores, one per patch of every scene (row-major over the scene's
//! patch grid, so every feature set shares the labels): a backbone's patch tokens in two
//! layouts, and the backbone-free controls built from the pixels.
//!
//! - `Layout::Cell` matches pre-training: each 32-px cell encoded alone at its own side, its 16
//!   patches put back at their places in the scene; no positional interpolation.
//! - `Layout::Scene`: the 64-px scene encoded whole, positional embeddings interpolated.
//!
//! Backbone features: the residual stream of the last `blocks` blocks, each token normed with
//! the final norm (as DINO's probe reads its last blocks), concatenated. The probe z-scores them
//! (`standardize`); k-NN centres and L2-normalises them.

use super::{BACKGROUND, SCENE_SIDE};
use crate::data::dataset::Dataset;
use crate::data::patches::{normalize_chw, patchify};
use crate::data::scenes::{Scene, CELLS, CELL_SIDE, FOREGROUND_PIXEL, ITEM_SIDE};
use crate::error::{Error, Result};
use crate::eval::features::Backbone;
use crate::gpu::Engine;
use crate::model::encoder::Encoder;

/// How a backbone sees the scenes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Cell,
    Scene,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Cell => "cell",
            Layout::Scene => "scene",
        }
    }
}

/// Rows of one feature set over a list of scenes.
pub struct PatchRows {
    /// Patch grid side G of a scene (rows per scene: G * G).
    pub grid: usize,
    pub dim: usize,
    /// [scenes * G * G, dim]
    pub x: Vec<f32>,
}

/// The rendered scenes of a split: grey canvases [SCENE_SIDE^2] and patch labels [G * G].
pub struct Rendered {
    pub grid: usize,
    pub canvases: Vec<Vec<u8>>,
    /// [scenes * G * G]: item class or BACKGROUND.
    pub labels: Vec<usize>,
}

/// Grey pixels [28, 28] of item `i` of a split of 28x28 images.
fn item_pixels(ds: &Dataset, i: usize) -> std::result::Result<Vec<u8>, String> {
    let img = ds.image(i)?;
    if (img.width() as usize, img.height() as usize) != (ITEM_SIDE, ITEM_SIDE) {
        return Err(format!(
            "{}: {}x{} images; scenes are built from {ITEM_SIDE}x{ITEM_SIDE} items (--data embedded or fashion-mnist)",
            ds.origin,
            img.width(),
            img.height()
        ));
    }
    Ok(img.pixels().map(|p| p.0[0]).collect())
}

/// Renders the scenes and labels a `patch`-px grid over them.
pub fn render(ds: &Dataset, scenes: &[Scene], patch: usize) -> Result<Rendered> {
    if patch == 0 || !CELL_SIDE.is_multiple_of(patch) {
        return Err(Error::Data(format!("patch size {patch}: must divide the {CELL_SIDE}-px cells of the scenes")));
    }
    let grid = SCENE_SIDE / patch;
    let mut out = Rendered { grid, canvases: Vec::with_capacity(scenes.len()), labels: Vec::new() };
    for s in scenes {
        let canvas = s.render(&|i| item_pixels(ds, i)).map_err(Error::Data)?;
        out.labels.extend(s.patch_labels(&canvas, grid, BACKGROUND).map_err(Error::Data)?);
        out.canvases.push(canvas);
    }
    Ok(out)
}

/// The `side`-px square of a canvas at (x0, y0), as RGB.
fn crop(canvas: &[u8], (x0, y0): (usize, usize), side: usize) -> image::RgbImage {
    image::RgbImage::from_fn(side as u32, side as u32, |x, y| {
        let v = canvas[(y0 + y as usize) * SCENE_SIDE + x0 + x as usize];
        image::Rgb([v, v, v])
    })
}

/// The last `blocks` blocks' tokens 1..=n of image `i` of the encoder's last run, normed,
/// concatenated per token: [n, blocks * D].
fn block_tokens(
    outputs: &[Vec<f32>],
    i: usize,
    (tokens, n): (usize, usize),
    norm: &dyn Fn(&[f32]) -> Vec<f32>,
    d: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * outputs.len() * d);
    for t in 1..=n {
        for x in outputs {
            let at = (i * tokens + t) * d;
            out.extend(norm(&x[at..at + d]));
        }
    }
    out
}

/// A backbone's patch features of the rendered scenes in `layout`, `batch` images a forward.
pub fn backbone_rows(
    e: &Engine,
    b: &Backbone,
    r: &Rendered,
    (layout, blocks): (Layout, usize),
    batch: usize,
) -> Result<PatchRows> {
    let m = &b.model;
    let blocks = blocks.clamp(1, m.depth);
    let d = m.dim;
    let final_norm = crate::eval::features::FinalNorm::of(&b.weights, m.ln_eps)?;
    let norm = |row: &[f32]| final_norm.apply(row);
    let side = match layout {
        Layout::Cell => CELL_SIDE,
        Layout::Scene => SCENE_SIDE,
    };
    let images_per_scene = if layout == Layout::Cell { CELLS } else { 1 };
    let enc = Encoder::at_side_with_block_outputs(e, m, batch.max(images_per_scene), side, &b.weights)?;
    let per_forward = (enc.batch / images_per_scene).max(1);
    let (grid, g) = (r.grid, side / m.patch_size);
    let dim = blocks * d;
    let mut x = vec![0f32; r.canvases.len() * grid * grid * dim];
    for (chunk_i, chunk) in r.canvases.chunks(per_forward).enumerate() {
        let mut rows = Vec::new();
        for canvas in chunk {
            for c in 0..images_per_scene {
                let at = match layout {
                    Layout::Cell => ((c % 2) * CELL_SIDE, (c / 2) * CELL_SIDE),
                    Layout::Scene => (0, 0),
                };
                rows.extend(patchify(&normalize_chw(&crop(canvas, at, side), &b.norm), 3, side, m.patch_size));
            }
        }
        enc.run(e, &rows)?;
        let outputs: Vec<Vec<f32>> =
            ((m.depth + 1 - blocks)..=m.depth).map(|l| enc.block_output(e, l)).collect::<Result<_>>()?;
        for s in 0..chunk.len() {
            let scene = chunk_i * per_forward + s;
            for c in 0..images_per_scene {
                let tokens = block_tokens(&outputs, s * images_per_scene + c, (enc.tokens(), g * g), &norm, d);
                // Where this image's patches sit in the scene's grid.
                let (cx, cy) = match layout {
                    Layout::Cell => ((c % 2) * g, (c / 2) * g),
                    Layout::Scene => (0, 0),
                };
                for (p, token) in tokens.chunks(dim).enumerate() {
                    let (py, px) = (cy + p / g, cx + p % g);
                    let row = scene * grid * grid + py * grid + px;
                    x[row * dim..(row + 1) * dim].copy_from_slice(token);
                }
            }
        }
    }
    Ok(PatchRows { grid, dim, x })
}

/// Pixel controls, the same for every backbone. `pixels + position`: each patch's own pixels
/// (0..1) and a one-hot of its place: what any patch token can be expected to know.
/// `positive`: those and the patch's whole cell average-pooled to 8x8, scaled by the patch's
/// foreground share, so every patch on an item carries that item's identity (and a background
/// patch carries little): a feature a good dense backbone could have. The benchmark can register
/// a gain only where this control beats the random-init floor by a wide margin. (Unscaled, the
/// same pooled cell on the item's background patches leaves a linear probe to compute "item
/// pixels here AND this identity" itself, which it cannot: measured 33 against 40 fg mIoU.)
pub fn pixel_rows(r: &Rendered, with_cell: bool) -> PatchRows {
    let grid = r.grid;
    let p = SCENE_SIDE / grid;
    const POOLED: usize = 8;
    let pool = CELL_SIDE / POOLED;
    let dim = p * p + grid * grid + if with_cell { POOLED * POOLED } else { 0 };
    let mut x = Vec::with_capacity(r.canvases.len() * grid * grid * dim);
    for canvas in &r.canvases {
        let px = |x: usize, y: usize| canvas[y * SCENE_SIDE + x] as f32 / 255.0;
        for gy in 0..grid {
            for gx in 0..grid {
                for y in 0..p {
                    x.extend((0..p).map(|xx| px(gx * p + xx, gy * p + y)));
                }
                x.extend((0..grid * grid).map(|i| if i == gy * grid + gx { 1.0 } else { 0.0 }));
                if with_cell {
                    let share = (0..p)
                        .flat_map(|y| (0..p).map(move |xx| (xx, y)))
                        .filter(|&(xx, y)| canvas[(gy * p + y) * SCENE_SIDE + gx * p + xx] > FOREGROUND_PIXEL)
                        .count() as f32
                        / (p * p) as f32;
                    let (cx, cy) = ((gx * p / CELL_SIDE) * CELL_SIDE, (gy * p / CELL_SIDE) * CELL_SIDE);
                    for by in 0..POOLED {
                        for bx in 0..POOLED {
                            let sum: f32 = (0..pool)
                                .flat_map(|y| (0..pool).map(move |xx| (xx, y)))
                                .map(|(xx, y)| px(cx + bx * pool + xx, cy + by * pool + y))
                                .sum();
                            x.push(share * sum / (pool * pool) as f32);
                        }
                    }
                }
            }
        }
    }
    PatchRows { grid, dim, x }
}

/// Per-dimension mean and standard deviation of `train`'s rows.
fn moments(train: &PatchRows) -> (Vec<f64>, Vec<f64>) {
    let (d, n) = (train.dim, (train.x.len() / train.dim.max(1)).max(1));
    let mut mean = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in train.x.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let std = sq.iter().zip(&mean).map(|(s, m)| (s / n as f64 - m * m).max(0.0).sqrt()).collect();
    (mean, std)
}

/// Z-scores both sets with `train`'s moments (a constant dimension becomes 0).
pub fn standardize(train: &mut PatchRows, test: &mut PatchRows) {
    let (mean, std) = moments(train);
    for set in [train, test] {
        for row in set.x.chunks_mut(mean.len()) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if std[j] > 1e-9 { ((*v as f64 - mean[j]) / std[j]) as f32 } else { 0.0 };
            }
        }
    }
}

/// Centres both sets on `train`'s mean and L2-normalises every row (for k-NN).
pub fn centre_and_normalize(train: &PatchRows, test: &PatchRows) -> (Vec<f32>, Vec<f32>) {
    let (mean, _) = moments(train);
    let apply = |set: &PatchRows| -> Vec<f32> {
        let mut x: Vec<f32> = set
            .x
            .chunks(mean.len())
            .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| (*v as f64 - m) as f32))
            .collect();
        crate::eval::knn::l2_normalize_rows(&mut x, mean.len());
        x
    };
    (apply(train), apply(test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_controls_place_pixels_position_and_the_pooled_cell() {
        // One scene: a bright square in the top-left cell only.
        let mut canvas = vec![0u8; SCENE_SIDE * SCENE_SIDE];
        for y in 0..8 {
            for x in 0..8 {
                canvas[y * SCENE_SIDE + x] = 255;
            }
        }
        let r = Rendered { grid: 8, canvases: vec![canvas], labels: vec![BACKGROUND; 64] };
        let plain = pixel_rows(&r, false);
        assert_eq!((plain.dim, plain.x.len()), (64 + 64, 64 * 128));
        // Patch 0: all ones, then its one-hot at 0; patch 1: zeros, one-hot at 1.
        assert!(plain.x[..64].iter().all(|&v| v == 1.0) && plain.x[64] == 1.0);
        assert!(plain.x[128..192].iter().all(|&v| v == 0.0) && plain.x[192 + 1] == 1.0);
        let pos = pixel_rows(&r, true);
        assert_eq!(pos.dim, 192);
        // The square's patch sees it in its pooled cell (pooled pixels (0,0), (0,1), (1,0), (1,1)
        // are 1), scaled by its foreground share (all of it); the cell's background patches
        // (no foreground) and the patches of the other cells see nothing.
        let pooled = |patch: usize| &pos.x[patch * 192 + 128..(patch + 1) * 192];
        assert_eq!(pooled(0).iter().sum::<f32>(), 4.0);
        assert_eq!((pooled(0)[0], pooled(0)[9]), (1.0, 1.0));
        for patch in [1, 3, 27, 4, 63] {
            assert_eq!(pooled(patch).iter().sum::<f32>(), 0.0, "patch {patch}");
        }
    }

    #[test]
    fn standardizing_uses_the_training_moments() {
        let mut train = PatchRows { grid: 1, dim: 2, x: vec![1.0, 5.0, 3.0, 5.0] };
        let mut test = PatchRows { grid: 1, dim: 2, x: vec![2.0, 7.0] };
        standardize(&mut train, &mut test);
        assert_eq!(train.x, vec![-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(test.x, vec![0.0, 0.0]);
        let (a, b) = centre_and_normalize(&PatchRows { grid: 1, dim: 2, x: vec![1.0, 0.0, 3.0, 2.0] }, &test);
        // Centred on the training mean (2, 1), then unit length: (-1, -1) and (-2, -1) scaled.
        let h = 1.0 / 2f32.sqrt();
        assert!((a[0] + h).abs() < 1e-6 && (a[1] + h).abs() < 1e-6 && (a[2] - h).abs() < 1e-6);
        let n = 5f32.sqrt();
        assert!((b[0] + 2.0 / n).abs() < 1e-6 && (b[1] + 1.0 / n).abs() < 1e-6, "{b:?}");
    }
}
