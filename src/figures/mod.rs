//! Figures as PNG bytes, drawn with plotters into an RGB buffer and labelled with the embedded
//! DejaVu Sans (`assets/fonts`), so no system font or display is needed: the training curves
//! (`curves`) and the ablation bar chart (`bars`).

pub mod bars;
pub mod curves;
pub mod grid;

use plotters::style::FontStyle;
use std::sync::Once;

/// The family name every figure asks plotters for.
pub const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font once per process (plotters keeps a global font table).
pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a font this crate ships; a failure would be a build defect, and the
        // figures would then only lose their text.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

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
