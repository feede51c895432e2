//! `results.png` of `ablate`: one bar per cell at its mean k-NN top-1 over seeds, error bars of
//! one standard deviation, the random-init floor as a dashed horizontal line.

use super::{ensure_font, png, range, FONT};
use plotters::prelude::*;

/// A cell's k-NN top-1 over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: f64,
    pub seeds: usize,
}

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;

/// The chart as PNG bytes.
pub fn ablation_bars(bars: &[Bar], floor: Option<&Bar>, budget: &str) -> Result<Vec<u8>, String> {
    ensure_font();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let values = bars.iter().flat_map(|b| [b.mean - b.std, b.mean + b.std]).chain(floor.map(|f| f.mean));
        let (lo, hi) = range(values, 0.25).unwrap_or((0.0, 100.0));
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("k-NN top-1 per cell ({budget})"), (FONT, 18))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, lo.max(0.0)..hi.min(100.0))
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = bars.iter().map(|b| format!("{} (n={})", b.label, b.seeds)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("k-NN top-1 (%), mean +- std over seeds")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(|e| e.to_string())?;
        let fill = RGBColor(31, 119, 180);
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let x = i as f64;
                Rectangle::new([(x - 0.3, lo.max(0.0)), (x + 0.3, b.mean)], fill.mix(0.8).filled())
            }))
            .map_err(|e| e.to_string())?
            .label("cell")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled()));
        chart
            .draw_series(bars.iter().enumerate().filter(|(_, b)| b.seeds > 1).map(|(i, b)| {
                ErrorBar::new_vertical(i as f64, b.mean - b.std, b.mean, b.mean + b.std, BLACK.stroke_width(2), 12)
            }))
            .map_err(|e| e.to_string())?;
        if let Some(f) = floor {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, f.mean), (n as f64 - 0.5, f.mean)],
                    8,
                    5,
                    grey.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("random-init floor {:.1}%", f.mean))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    png(rgb, WIDTH, HEIGHT)
}
