//! Titles around a grid of equal tiles (the attention figure): a title per column above it,
//! a title per row to its left, a caption and a colour bar below it. Titles are measured in the
//! embedded font; column titles too wide for their column shrink, then stand upright.

use super::{ensure_font, FONT};
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What to write around the grid.
pub struct GridLabels<'a> {
    pub columns: &'a [String],
    pub rows: &'a [String],
    pub caption: &'a str,
    /// The colour map of the tiles, drawn as a bar from 0 (left, "low") to 1 (right, "high").
    pub colour_map: fn(f32) -> Rgb<u8>,
}

/// The width of `text` in the embedded font at `size` pixels (0 if it cannot be measured).
fn text_width(text: &str, size: u32) -> u32 {
    (FONT, size).into_font().box_size(text).map_or(0, |(w, _)| w)
}

/// The column titles' font size, and whether they stand upright (rotated): the largest size
/// from `text` down to 9 px at which every title fits its column; else rotated titles as large
/// as the column allows, so that titles never run into each other.
fn column_titles(columns: &[String], pitch: u32, text: u32) -> (u32, bool) {
    let widest = |size: u32| columns.iter().map(|c| text_width(c, size)).max().unwrap_or(0);
    match (9..=text).rev().find(|&size| widest(size) + 4 <= pitch) {
        Some(size) => (size, false),
        None => (text.min(pitch.saturating_sub(2)).max(8), true),
    }
}

/// `grid` (columns x rows tiles of `pitch` pixels) with its labels around it.
pub fn labelled(grid: &RgbImage, pitch: u32, labels: &GridLabels) -> Result<RgbImage, String> {
    ensure_font();
    let text = (pitch / 6).clamp(11, 22);
    let (col_size, upright) = column_titles(labels.columns, pitch, text);
    let longest_row = labels.rows.iter().map(|r| text_width(r, text)).max().unwrap_or(0);
    let left = longest_row + 12;
    let top = match upright {
        true => labels.columns.iter().map(|c| text_width(c, col_size)).max().unwrap_or(0) + 12,
        false => col_size * 2 + 8,
    };
    let bar_h = text * 4 + 20;
    let caption_w = text_width(labels.caption, text) + 8;
    let (w, h) = (left + grid.width().max(caption_w).max(320) + 8, top + grid.height() + bar_h);
    let mut fig = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    image::imageops::replace(&mut fig, grid, left as i64, top as i64);
    // The colour bar: 256 px wide (or less if the figure is narrower), under the caption.
    let bar_w = 256.min(w - left - 8);
    let bar_y = top + grid.height() + text + 12;
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
        let anchored = |size: u32, h: HPos, v: VPos| (FONT, size as f64).into_font().color(&BLACK).pos(Pos::new(h, v));
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        for (c, title) in labels.columns.iter().enumerate() {
            let x = (left + c as u32 * pitch + pitch / 2) as i32;
            if upright {
                // Rotated a quarter turn: read bottom to top, ending 6 px above the grid.
                let style = anchored(col_size, HPos::Left, VPos::Center).transform(FontTransform::Rotate270);
                area.draw(&Text::new(title.as_str(), (x, top as i32 - 6), style)).map_err(err)?;
            } else {
                let style = anchored(col_size, HPos::Center, VPos::Center);
                area.draw(&Text::new(title.as_str(), (x, (top / 2) as i32), style)).map_err(err)?;
            }
        }
        for (r, title) in labels.rows.iter().enumerate() {
            let y = (top + r as u32 * pitch + pitch / 2) as i32;
            area.draw(&Text::new(title.as_str(), (6, y), anchored(text, HPos::Left, VPos::Center))).map_err(err)?;
        }
        let caption_y = (top + grid.height() + 6) as i32;
        area.draw(&Text::new(labels.caption, (left as i32, caption_y), font.clone())).map_err(err)?;
        let below = (bar_y + text + 4) as i32;
        area.draw(&Text::new("low", (left as i32, below), font.clone())).map_err(err)?;
        let high_x = (left + bar_w) as i32;
        area.draw(&Text::new("high", (high_x, below), anchored(text, HPos::Right, VPos::Top))).map_err(err)?;
        area.present().map_err(err)?;
    }
    RgbImage::from_raw(w, h, raw).ok_or_else(|| "figure buffer of the wrong size".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles() -> Vec<String> {
        ["image", "mean of heads", "head 1", "head 2"].map(String::from).to_vec()
    }

    #[test]
    fn column_titles_fit_their_columns_or_stand_upright() {
        ensure_font();
        // The default 128 px tiles: level titles, shrunk until the longest fits its column.
        let (size, upright) = column_titles(&titles(), 132, 22);
        assert!(!upright && (9..=22).contains(&size), "{size}");
        assert!(titles().iter().all(|c| text_width(c, size) + 4 <= 132));
        // Small tiles: level titles would run into each other, so they are rotated.
        let (size, upright) = column_titles(&titles(), 36, 11);
        assert!(upright && size <= 34, "{size}");
    }

    #[test]
    fn the_figure_makes_room_for_its_titles() {
        let labels = GridLabels {
            columns: &titles(),
            rows: &["CLS".to_string(), "query 1".to_string()],
            caption: "a caption wider than the grid",
            colour_map: |t| Rgb([(255.0 * t) as u8, 0, 0]),
        };
        let grid = RgbImage::from_pixel(4 * 36, 2 * 36, Rgb([0, 200, 0]));
        let fig = labelled(&grid, 36, &labels).unwrap();
        // Rotated titles: the strip above the grid is as tall as "mean of heads" is long.
        let green_top = (0..fig.height()).find(|&y| (0..fig.width()).any(|x| fig.get_pixel(x, y).0 == [0, 200, 0]));
        assert!(green_top.unwrap() >= text_width("mean of heads", 8), "{green_top:?}");
        assert!(fig.width() >= grid.width() + text_width("query 1", 11));
        // Text was drawn above the grid.
        let dark = (0..green_top.unwrap()).flat_map(|y| (0..fig.width()).map(move |x| (x, y)));
        assert!(dark.filter(|&(x, y)| fig.get_pixel(x, y).0[0] < 100).count() > 50);
    }
}
