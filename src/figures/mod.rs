//! Figures as PNG bytes, drawn with plotters into an RGB buffer and labelled with the embedded
//! DejaVu Sans (`assets/fonts`), so no system font or display is needed: the training curves
//! (`curves`), the ablation bar chart (`bars`), the titles around the attention grid (`grid`) and
//! the 2-D feature maps of `embed` (`scatter`).
//! Legends are drawn by hand (`legend`) in strips beside or above the charts, never over the data.

pub mod bars;
pub mod curves;
pub mod grid;
pub mod scatter;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// The family name every figure asks plotters for.
pub const FONT: &str = "sans-serif";

/// Registers the embedded font once per process (plotters keeps a global font table).
pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(register_embedded_font);
}

#[cfg(not(target_arch = "wasm32"))]
fn register_embedded_font() {
    static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
    // The bytes are a font this crate ships; a failure would be a build defect, and the
    // figures would then only lose their text.
    let _ = plotters::style::register_font(FONT, plotters::style::FontStyle::Normal, DEJAVU_SANS);
}

/// In a browser plotters has no font table: it asks the page for its fonts.
#[cfg(target_arch = "wasm32")]
fn register_embedded_font() {}

/// An RGB buffer of `width` x `height` as PNG bytes.
pub fn png(rgb: Vec<u8>, width: u32, height: u32) -> Result<Vec<u8>, String> {
    let img = image::RgbImage::from_raw(width, height, rgb).ok_or("figure buffer of the wrong size")?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Smallest and largest finite value, widened by `pad` of the span (a flat series gets +-1).
pub fn range(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    let span = if hi - lo > 1e-9 { hi - lo } else { 2.0 };
    Some((lo - pad * span, hi + pad * span))
}

/// What a legend entry shows beside its name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Swatch {
    /// A line.
    Line(RGBColor),
    /// A line with a dot on it (a series drawn with markers).
    LineDot(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A filled block (a bar).
    Block(RGBColor),
}

/// How legend entries are laid out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Flow {
    /// One under another.
    Column,
    /// Side by side.
    Row,
}

pub const LEGEND_FONT: u32 = 13;
const SWATCH_W: i32 = 24;
const ENTRY_H: i32 = 20;

/// Draws a legend with its top-left at `at` in `area`: a strip kept beside or above a chart, so
/// it never covers the data (plotters' own series labels are drawn inside the plotting area).
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    entries: &[(String, Swatch)],
    flow: Flow,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let font = (FONT, LEGEND_FONT).into_font().color(&BLACK);
    let (mut x, mut y) = at;
    for (name, swatch) in entries {
        let mid = y + ENTRY_H / 2;
        let line = [(x, mid), (x + SWATCH_W, mid)];
        match *swatch {
            Swatch::Line(c) => area.draw(&PathElement::new(line, c.stroke_width(2))).map_err(err)?,
            Swatch::LineDot(c) => {
                area.draw(&PathElement::new(line, c.stroke_width(2))).map_err(err)?;
                area.draw(&Circle::new((x + SWATCH_W / 2, mid), 3, c.filled())).map_err(err)?;
            }
            Swatch::Dashed(c) => {
                for s in (0..SWATCH_W).step_by(9) {
                    let seg = [(x + s, mid), (x + (s + 5).min(SWATCH_W), mid)];
                    area.draw(&PathElement::new(seg, c.stroke_width(2))).map_err(err)?;
                }
            }
            Swatch::Block(c) => {
                area.draw(&Rectangle::new([(x + 2, mid - 6), (x + SWATCH_W - 2, mid + 6)], c.filled())).map_err(err)?
            }
        }
        let text_y = mid - LEGEND_FONT as i32 / 2 - 2;
        area.draw(&Text::new(name.as_str(), (x + SWATCH_W + 6, text_y), font.clone())).map_err(err)?;
        match flow {
            Flow::Column => y += ENTRY_H,
            Flow::Row => {
                let (w, _) = area.estimate_text_size(name, &font).map_err(err)?;
                x += SWATCH_W + 6 + w as i32 + 18;
            }
        }
    }
    Ok(())
}

/// The width a column legend of these names needs: swatch, gap, the widest name, a margin.
pub fn legend_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, names: &[&str]) -> Result<u32, String> {
    let font = (FONT, LEGEND_FONT).into_font();
    let mut widest = 0;
    for name in names {
        widest = widest.max(area.estimate_text_size(name, &font.clone().into()).map_err(|e| e.to_string())?.0);
    }
    Ok(SWATCH_W as u32 + 6 + widest + 16)
}

/// A linear f64 axis with the ticks given (plotters' `with_key_points` would lose the label
/// formatter): the whole steps of `loss.png`, a tick under each bar of `results.png`.
pub struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Self { inner: range.into(), ticks }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks only, no light lines between them.
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

#[cfg(test)]
mod samples {
    use super::bars::{ablation_bars, Bar};
    use super::curves::{training_curves, CurvePoint};
    use super::grid::{labelled, GridLabels};

    fn run(steps: usize, knn_every: Option<usize>) -> Vec<CurvePoint> {
        let mut points: Vec<CurvePoint> = (1..=steps)
            .map(|s| {
                let t = s as f64 / steps as f64;
                CurvePoint {
                    step: s as f64,
                    loss: Some(9.0 - 3.0 * t + 0.1 * (s as f64).sin()),
                    global_loss: Some(5.0 - 2.0 * t),
                    query_loss: Some(4.0 - 1.0 * t),
                    ..Default::default()
                }
            })
            .collect();
        if let Some(every) = knn_every {
            for s in (0..=steps).step_by(every) {
                let t = s as f64 / steps as f64;
                points.push(CurvePoint {
                    step: s as f64,
                    knn_teacher: Some(10.0 + 20.0 * t),
                    knn_student: Some(10.0 + 18.0 * t),
                    knn_floor: Some(10.0),
                    ..Default::default()
                });
            }
        }
        points
    }

    /// Renders the figures for a look: `cargo test --lib figures::samples -- --ignored`, then
    /// open $TMPDIR/figs/*.png (/tmp/figs).
    #[test]
    #[ignore]
    fn render_samples() {
        let dir = &std::env::temp_dir().join("figs");
        std::fs::create_dir_all(dir).unwrap();
        // Each picture decodes, is at least the 800-px chart and is not one colour.
        let save = |name: &str, png: Vec<u8>| {
            let img = image::load_from_memory(&png).unwrap().to_rgb8();
            assert!(img.width() >= 800, "{name}: {} px wide", img.width());
            let first = *img.get_pixel(0, 0);
            assert!(img.pixels().any(|p| *p != first), "{name} is blank");
            std::fs::write(dir.join(name), png).unwrap();
        };
        save("loss-3.png", training_curves(&run(3, None)).unwrap());
        save("loss-8.png", training_curves(&run(8, Some(4))).unwrap());
        save("loss-24.png", training_curves(&run(24, Some(6))).unwrap());
        save("loss-2500.png", training_curves(&run(2500, Some(250))).unwrap());
        save(
            "loss-100000.png",
            training_curves(
                &run(100_000 / 50, None)
                    .into_iter()
                    .map(|p| CurvePoint { step: p.step * 50.0, ..p })
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        );
        let mut single = run(8, None);
        single.push(CurvePoint { step: 8.0, knn_teacher: Some(31.5), knn_floor: Some(10.2), ..Default::default() });
        save("loss-final-knn.png", training_curves(&single).unwrap());
        let bar = |label: &str, mean: f64, std: f64, seeds: usize| Bar { label: label.into(), mean, std, seeds };
        let near_100 =
            [bar("lambda=0.0", 99.6, 0.3, 3), bar("lambda=0.5", 99.8, 0.2, 3), bar("lambda=1.0", 99.9, 0.0, 1)];
        save(
            "bars-100.png",
            ablation_bars(&near_100, Some(&bar("random-init", 99.5, 0.1, 3)), "2 steps per run").unwrap(),
        );
        let near_10 = [bar("lambda=0.0", 10.4, 0.6, 2), bar("lambda=0.5", 11.2, 0.4, 2)];
        save(
            "bars-10.png",
            ablation_bars(&near_10, Some(&bar("random-init", 10.0, 0.2, 2)), "24 steps per run").unwrap(),
        );
        let many: Vec<Bar> = (0..9)
            .map(|i| {
                bar(
                    &format!("lambda={},queries={},query_attends=cls_patches", i % 3, 2 + i / 3),
                    30.0 + i as f64,
                    1.0,
                    2,
                )
            })
            .collect();
        save("bars-many.png", ablation_bars(&many, None, "2500 steps per run").unwrap());
        for (cell, heads) in [(128u32, 4u32), (32, 2)] {
            let pitch = cell + 4;
            let cols = 2 + heads;
            let rows = 4;
            let grid = image::RgbImage::from_fn(cols * pitch, rows * pitch, |x, y| {
                let v = ((x * 7 + y * 13) % 255) as u8;
                image::Rgb([v, 255 - v, 128])
            });
            let columns: Vec<String> = ["image".to_string(), "mean of heads".to_string()]
                .into_iter()
                .chain((1..=heads).map(|h| format!("head {h}")))
                .collect();
            let row_titles: Vec<String> =
                std::iter::once("CLS".to_string()).chain((1..rows).map(|q| format!("query {q}"))).collect();
            let labels = GridLabels {
                columns: &columns,
                rows: &row_titles,
                caption: "last block's attention over the patches, each map scaled to its own range",
                colour_map: |t| image::Rgb([(255.0 * t) as u8, 0, (255.0 * (1.0 - t)) as u8]),
            };
            let fig = labelled(&grid, pitch, &labels).unwrap();
            fig.save(dir.join(format!("grid-{cell}.png"))).unwrap();
        }
    }
}
