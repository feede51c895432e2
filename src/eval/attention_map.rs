//! `adclr-wgpu attention`: the last block's attention of CLS and of a few query tokens over
//! the patches, per head and averaged, as heat maps beside the image with the query crops
//! drawn as boxes (the paper's Fig. 1, right).

use super::features::Backbone;
use crate::data::augment::{random_resized_crop, RATIO};
use crate::data::image_io::resize_center_crop;
use crate::data::normalization::Normalization;
use crate::data::patches::{normalize_chw, patchify};
use crate::error::Result;
use crate::figures::grid::{labelled, GridLabels};
use crate::gpu::Engine;
use crate::model::encoder::Encoder;
use crate::reference::attention::{AttentionShape, QueryAttends};
use crate::rng::Rng;
use image::{imageops, Rgb, RgbImage};

/// Attention of one token over the N patches, per head: [heads][N].
pub type Maps = Vec<Vec<f32>>;

/// Row `i`'s softmax over the patch columns from the last block's qkv [T, 3, H, hd].
fn patch_attention(s: &AttentionShape, qkv: &[f32], i: usize) -> Maps {
    let hd = s.head_dim;
    (0..s.heads)
        .map(|h| {
            let q = s.qkv_offset(0, i, 0, h);
            let scores: Vec<Option<f32>> = (0..s.tokens)
                .map(|j| {
                    s.attends(i, j).then(|| {
                        let k = s.qkv_offset(0, j, 1, h);
                        (0..hd).map(|d| qkv[q + d] * qkv[k + d]).sum::<f32>() * s.scale() as f32
                    })
                })
                .collect();
            let m = scores.iter().flatten().cloned().fold(f32::MIN, f32::max);
            let z: f32 = scores.iter().flatten().map(|v| (v - m).exp()).sum();
            (1..s.n_base).map(|j| scores[j].map_or(0.0, |v| (v - m).exp() / z)).collect()
        })
        .collect()
}

fn heat(v: f32) -> Rgb<u8> {
    let t = v.clamp(0.0, 1.0);
    Rgb([(255.0 * t) as u8, (255.0 * (1.0 - (2.0 * t - 1.0).abs())) as u8, (255.0 * (1.0 - t)) as u8])
}

/// A map over the g x g grid as a `size` x `size` heat image blended over `base`.
fn overlay(base: &RgbImage, map: &[f32], g: usize, size: u32) -> RgbImage {
    let (lo, hi) = map.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let small = RgbImage::from_fn(g as u32, g as u32, |x, y| {
        heat((map[y as usize * g + x as usize] - lo) / (hi - lo).max(1e-12))
    });
    let big = imageops::resize(&small, size, size, imageops::FilterType::Triangle);
    let base = imageops::resize(base, size, size, imageops::FilterType::Triangle);
    RgbImage::from_fn(size, size, |x, y| {
        let (a, b) = (base.get_pixel(x, y), big.get_pixel(x, y));
        Rgb([0, 1, 2].map(|c| (0.4 * a[c] as f32 + 0.6 * b[c] as f32) as u8))
    })
}

fn rect(img: &mut RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), color: Rgb<u8>) {
    for x in x0..=x1.min(img.width() - 1) {
        for y in [y0, y1.min(img.height() - 1)] {
            img.put_pixel(x, y, color);
        }
    }
    for y in y0..=y1.min(img.height() - 1) {
        for x in [x0, x1.min(img.width() - 1)] {
            img.put_pixel(x, y, color);
        }
    }
}

/// A box (x0, y0, x1, y1) in pixels, inclusive.
pub type PixelBox = (u32, u32, u32, u32);

/// `queries` random crops of the view, as query-token patch rows [queries, 3 P P], with their
/// boxes (x0, y0, x1, y1) in view pixels.
pub fn query_crops(
    view: &RgbImage,
    queries: usize,
    p: usize,
    norm: &Normalization,
    seed: u64,
) -> (Vec<PixelBox>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut boxes = Vec::new();
    let mut query_rows = Vec::new();
    for _ in 0..queries {
        // Crop boxes in view coordinates: sample on the view, record where.
        let (w, h) = (view.width() as f64, view.height() as f64);
        let area = w * h * rng.range(0.05, 0.15);
        let ratio = rng.range(RATIO.0.ln(), RATIO.1.ln()).exp();
        let (cw, ch) = (((area * ratio).sqrt()).clamp(1.0, w), ((area / ratio).sqrt()).clamp(1.0, h));
        let (x, y) = (rng.range(0.0, w - cw + 1.0).floor(), rng.range(0.0, h - ch + 1.0).floor());
        let crop = imageops::crop_imm(view, x as u32, y as u32, cw as u32, ch as u32).to_image();
        let q = random_resized_crop(&crop, p as u32, (1.0, 1.0), (1.0, 1.0), &mut rng);
        query_rows.extend(patchify(&normalize_chw(&q, norm), 3, p, p));
        boxes.push((x as u32, y as u32, (x + cw) as u32 - 1, (y + ch) as u32 - 1));
    }
    (boxes, query_rows)
}

/// Tile sides the figure accepts (pixels) and the most query rows it draws.
pub const MIN_CELL: u32 = 8;
pub const MAX_CELL: u32 = 1024;
pub const MAX_QUERIES: usize = 64;

/// The last block's qkv [T, 3, H, hd] of `view` (at the model's side) with `queries` query
/// crops (patch rows `query_rows`), and the attention shape it has.
async fn last_block_async(
    e: &Engine,
    b: &Backbone,
    view: &RgbImage,
    queries: usize,
    query_rows: &[f32],
) -> Result<(AttentionShape, Vec<f32>)> {
    let m = &b.model;
    let (s, p, g) = (m.image_size, m.patch_size, m.grid(m.image_size));
    let enc = Encoder::with_queries(e, m, 1, queries, &b.weights)?;
    let rows = patchify(&normalize_chw(view, &b.norm), 3, s, p);
    let qkv = enc.last_block_qkv_async(e, &rows, query_rows).await?;
    let shape = AttentionShape {
        batch: 1,
        tokens: 1 + g * g + queries,
        heads: m.heads,
        head_dim: m.head_dim(),
        n_base: 1 + g * g,
        query_attends: QueryAttends::ClsPatchesSelf,
        bidirectional: false,
    };
    Ok((shape, qkv))
}

/// The mean over the heads of per-head maps of `cells` values each.
fn head_mean(maps: &[Vec<f32>], cells: usize) -> Vec<f32> {
    (0..cells).map(|j| maps.iter().map(|h| h[j]).sum::<f32>() / maps.len() as f32).collect()
}

fn check_cell(cell: u32, what: &str) -> Result<()> {
    match (MIN_CELL..=MAX_CELL).contains(&cell) {
        true => Ok(()),
        false => Err(crate::error::Error::Data(format!("{what} {cell} must be in {MIN_CELL}..={MAX_CELL} pixels"))),
    }
}

/// CLS's last-block attention over the patches, averaged over the heads and blended over the
/// image (resized and centre-cropped to the model's side) as a `cell`-pixel heat map: the
/// figure's "mean of heads" tile of the CLS row, without labels (what the browser page draws).
pub async fn cls_mean_tile_async(e: &Engine, b: &Backbone, img: &RgbImage, cell: u32) -> Result<RgbImage> {
    check_cell(cell, "cell")?;
    let g = b.model.grid(b.model.image_size);
    let view = resize_center_crop(img, b.model.image_size);
    let (shape, qkv) = last_block_async(e, b, &view, 0, &[]).await?;
    let mean = head_mean(&patch_attention(&shape, &qkv, 0), g * g);
    Ok(overlay(&view, &mean, g, cell))
}

/// Renders the figure: one row for CLS and one per query; columns are the image (with the
/// query boxes), the head-mean map, then each head; titled rows and columns and a colour bar.
pub fn render(e: &Engine, b: &Backbone, img: &RgbImage, queries: usize, seed: u64, cell: u32) -> Result<RgbImage> {
    check_cell(cell, "--cell")?;
    if queries > MAX_QUERIES {
        return Err(crate::error::Error::Data(format!("--queries {queries}: the figure shows at most {MAX_QUERIES}")));
    }
    let m = &b.model;
    let (s, p, g) = (m.image_size, m.patch_size, m.grid(m.image_size));
    let view = resize_center_crop(img, s);
    let (boxes, query_rows) = query_crops(&view, queries, p, &b.norm, seed);
    let (shape, qkv) = pollster::block_on(last_block_async(e, b, &view, queries, &query_rows))?;
    let sources: Vec<usize> = std::iter::once(0).chain((0..queries).map(|q| 1 + g * g + q)).collect();
    let cols = 2 + m.heads as u32;
    let mut fig = RgbImage::from_pixel(cols * (cell + 4), sources.len() as u32 * (cell + 4), Rgb([255, 255, 255]));
    let colors = [Rgb([255, 255, 0]), Rgb([0, 255, 255]), Rgb([255, 0, 255]), Rgb([0, 255, 0]), Rgb([255, 128, 0])];
    for (row, &i) in sources.iter().enumerate() {
        let maps = patch_attention(&shape, &qkv, i);
        let mean = head_mean(&maps, g * g);
        let mut first = imageops::resize(&view, cell, cell, imageops::FilterType::Triangle);
        let scale = cell as f32 / s as f32;
        for (qi, bx) in boxes.iter().enumerate() {
            if row == 0 || row == qi + 1 {
                let sb = |v: u32| (v as f32 * scale) as u32;
                rect(
                    &mut first,
                    (sb(bx.0), sb(bx.1), sb(bx.2 + 1).saturating_sub(1), sb(bx.3 + 1).saturating_sub(1)),
                    colors[qi % colors.len()],
                );
            }
        }
        let tiles = std::iter::once(first)
            .chain(std::iter::once(&mean).chain(maps.iter()).map(|mp| overlay(&view, mp, g, cell)));
        for (col, tile) in tiles.enumerate() {
            imageops::replace(
                &mut fig,
                &tile,
                (col as u32 * (cell + 4) + 2) as i64,
                (row as u32 * (cell + 4) + 2) as i64,
            );
        }
    }
    let columns: Vec<String> = ["image".to_string(), "mean of heads".to_string()]
        .into_iter()
        .chain((1..=m.heads).map(|h| format!("head {h}")))
        .collect();
    let rows: Vec<String> =
        std::iter::once("CLS".to_string()).chain((1..=queries).map(|q| format!("query {q}"))).collect();
    let labels = GridLabels {
        columns: &columns,
        rows: &rows,
        caption: "last block's attention over the patches, each map scaled to its own range",
        colour_map: heat,
    };
    labelled(&fig, cell + 4, &labels).map_err(|e| crate::error::Error::Data(format!("attention figure: {e}")))
}
