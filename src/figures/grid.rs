//! Titles around a grid of equal tiles (the attention figure): a title per column above it,
//! a title per row to its left, a caption and a colour bar below it.

use super::{ensure_font, FONT};
use image::{Rgb, RgbImage};
use plotters::prelude::*;

/// What to write around the grid.
pub struct GridLabels<'a> {
    pub columns: &'a [String],
    pub rows: &'a [String],
    pub caption: &'a str,
    /// The colour map of the tiles, drawn as a bar from 0 (left, "low") to 1 (right, "high").
    pub colour_map: fn(f32) -> Rgb<u8>,
}

/// `grid` (columns x rows tiles of `pitch` pixels) with its labels around it.
pub fn labelled(grid: &RgbImage, pitch: u32, labels: &GridLabels) -> Result<RgbImage, String> {
    ensure_font();
    let text = (pitch / 6).clamp(11, 22);
    let longest = labels.rows.iter().map(|r| r.chars().count()).max().unwrap_or(0) as u32;
    let (left, top) = (longest * text * 6 / 10 + 12, text * 2 + 8);
    let bar_h = text * 4 + 16;
    let caption_w = labels.caption.chars().count() as u32 * text * 6 / 10 + 8;
    let (w, h) = (left + grid.width().max(caption_w).max(320), top + grid.height() + bar_h);
    let mut fig = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    image::imageops::replace(&mut fig, grid, left as i64, top as i64);
    // The colour bar: 256 px wide (or the grid's width if smaller), under the grid.
    let bar_w = 256.min(w - left - 8);
    let bar_y = top + grid.height() + text + 10;
    for x in 0..bar_w {
        let c = (labels.colour_map)(x as f32 / (bar_w - 1).max(1) as f32);
        for y in bar_y..bar_y + text {
            fig.put_pixel(left + x, y, c);
        }
    }
    let (w, h) = fig.dimensions();
    let mut raw = fig.into_raw();
    {
        let area = BitMapBackend::with_buffer(&mut raw, (w, h)).into_drawing_area();
        let font = (FONT, text as f64).into_font().color(&BLACK);
        let centred = font.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        for (c, title) in labels.columns.iter().enumerate() {
            let x = left + c as u32 * pitch + pitch / 2;
            area.draw(&Text::new(title.as_str(), (x as i32, (top / 2) as i32), centred.clone())).map_err(err)?;
        }
        for (r, title) in labels.rows.iter().enumerate() {
            let y = top + r as u32 * pitch + pitch / 2 - text / 2;
            area.draw(&Text::new(title.as_str(), (6, y as i32), font.clone())).map_err(err)?;
        }
        let caption_y = (top + grid.height() + 4) as i32;
        area.draw(&Text::new(labels.caption, (left as i32, caption_y), font.clone())).map_err(err)?;
        let below = (bar_y + text + 4) as i32;
        area.draw(&Text::new("low", (left as i32, below), font.clone())).map_err(err)?;
        let high_x = (left + bar_w) as i32 - (text as i32 * 2);
        area.draw(&Text::new("high", (high_x, below), font.clone())).map_err(err)?;
        area.present().map_err(err)?;
    }
    RgbImage::from_raw(w, h, raw).ok_or_else(|| "figure buffer of the wrong size".to_string())
}
