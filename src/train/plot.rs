//! A loss-curve PNG: white background, axes, one polyline per series (no text: the values
//! are in metrics.jsonl).

use image::{Rgb, RgbImage};

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()) as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        for (dx, dy) in [(0i64, 0i64), (1, 0), (0, 1)] {
            let (px, py) = (x as i64 + dx, y as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, color);
            }
        }
    }
}

/// (step, value) points and the colour they are drawn in.
pub type Series<'a> = (&'a [(f64, f64)], Rgb<u8>);

/// Plots each series of (step, value) points on shared axes.
pub fn loss_curve(series: &[Series], width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let pts = series.iter().flat_map(|(s, _)| s.iter()).filter(|p| p.1.is_finite());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    let margin = 40.0;
    let (w, h) = (width as f64 - 2.0 * margin, height as f64 - 2.0 * margin);
    let axis = Rgb([0, 0, 0]);
    line(&mut img, (margin, margin), (margin, margin + h), axis);
    line(&mut img, (margin, margin + h), (margin + w, margin + h), axis);
    if xmin > xmax {
        return img;
    }
    let (xs, ys) = ((xmax - xmin).max(1e-12), (ymax - ymin).max(1e-12));
    let map = |(x, y): (f64, f64)| (margin + (x - xmin) / xs * w, margin + h - (y - ymin) / ys * h);
    for (s, color) in series {
        let finite: Vec<_> = s.iter().filter(|p| p.1.is_finite()).map(|&p| map(p)).collect();
        for pair in finite.windows(2) {
            line(&mut img, pair[0], pair[1], *color);
        }
    }
    img
}
