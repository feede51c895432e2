//! `results.png` of `ablate`: one bar per cell at its mean k-NN top-1 over seeds, error bars of
//! one standard deviation, the random-init floor as a dashed horizontal line. The bars stand on
//! 0 (the y axis always shows their base), the legend is a row above the chart.

use super::{ensure_font, legend, png, Flow, Swatch, Ticked, FONT};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A cell's k-NN top-1 over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: f64,
    pub seeds: usize,
}

/// The chart's width for at most 6 bars; more bars widen it (`width_for`).
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;

/// Room above the tallest bar or error bar (its value label sits there), as a share of the range.
pub const HEADROOM: f64 = 0.12;

/// The chart's width: [`WIDTH`], or wider so that each bar keeps about 110 pixels for its label.
pub fn width_for(bars: usize) -> u32 {
    WIDTH.max(120 + 110 * bars as u32)
}

/// The y range: from the bars' base, 0 (lower only if an error bar reaches below it), to a bit
/// above the tallest bar, error bar or floor line; never a range that cuts the bars off.
pub fn bar_y_range(bars: &[Bar], floor: Option<&Bar>) -> (f64, f64) {
    let finite = |v: &f64| v.is_finite();
    let tops = bars.iter().flat_map(|b| [b.mean, b.mean + b.std.abs()]).chain(floor.map(|f| f.mean));
    let top = tops.filter(finite).fold(0.0, f64::max);
    let bottom = bars.iter().map(|b| b.mean - b.std.abs()).filter(finite).fold(0.0, f64::min);
    if top - bottom < 1e-9 {
        return (bottom, bottom + 100.0);
    }
    (bottom, top + HEADROOM * (top - bottom))
}

/// A bar's label as lines: its name broken after each comma (one axis value a line), then n.
fn label_lines(b: &Bar) -> Vec<String> {
    let mut lines: Vec<String> = b.label.split_inclusive(',').map(str::to_string).collect();
    lines.push(format!("(n={})", b.seeds));
    lines
}

/// The chart as PNG bytes.
pub fn ablation_bars(bars: &[Bar], floor: Option<&Bar>, budget: &str) -> Result<Vec<u8>, String> {
    ensure_font();
    let n = bars.len().max(1);
    let width = width_for(n);
    let mut rgb = vec![255u8; (width * HEIGHT * 3) as usize];
    {
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        let root = BitMapBackend::with_buffer(&mut rgb, (width, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (lo, hi) = bar_y_range(bars, floor);
        let labels: Vec<Vec<String>> = bars.iter().map(label_lines).collect();
        let lines = labels.iter().map(Vec::len).max().unwrap_or(1) as u32;
        // The largest label font (12 down to 9 px) whose widest line fits a bar's pitch.
        let pitch = (width - 100) / n as u32;
        let widest = |size: u32| -> Result<u32, String> {
            let font: TextStyle = (FONT, size).into();
            let mut w = 0;
            for line in labels.iter().flatten() {
                w = w.max(root.estimate_text_size(line, &font).map_err(err)?.0);
            }
            Ok(w)
        };
        let mut size = 12;
        while size > 9 && widest(size)? + 8 > pitch {
            size -= 1;
        }
        let line_h = size + 3;
        let title = format!("k-NN top-1 per cell ({budget})");
        let body = root.margin(6, 0, 0, 0).titled(&title, (FONT, 18)).map_err(err)?;
        // The legend in a row of its own between the title and the chart, clear of the bars.
        let (legend_row, chart_area) = body.split_vertically(26);
        let fill = RGBColor(70, 140, 195);
        let grey = RGBColor(90, 90, 90);
        let mut entries = vec![("cell, mean +- std over seeds".to_string(), Swatch::Block(fill))];
        if let Some(f) = floor {
            entries.push((format!("random-init floor {:.1}%", f.mean), Swatch::Dashed(grey)));
        }
        let x_range = Ticked::new(-0.5..n as f64 - 0.5, (0..n).map(|i| i as f64).collect());
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(12)
            .margin_top(4)
            .x_label_area_size(lines * line_h + 14)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // The labels are drawn below, a line per axis value.
            .x_label_formatter(&|_| String::new())
            .y_desc("k-NN top-1 (%), mean +- std over seeds")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(err)?;
        let plot_left = chart.plotting_area().get_pixel_range().0.start - legend_row.get_base_pixel().0;
        legend(&legend_row, (plot_left, 2), &entries, Flow::Row)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let x = i as f64;
                Rectangle::new([(x - 0.3, 0.0), (x + 0.3, b.mean)], fill.filled())
            }))
            .map_err(err)?;
        // Error bars: a line from mean - std to mean + std with a cap at each end.
        for (i, b) in bars.iter().enumerate().filter(|(_, b)| b.seeds > 1 && b.std.is_finite()) {
            let (x, ends) = (i as f64, [b.mean - b.std, b.mean + b.std]);
            let style = BLACK.stroke_width(2);
            chart.draw_series([PathElement::new(ends.map(|y| (x, y)), style)]).map_err(err)?;
            chart
                .draw_series(ends.map(|y| EmptyElement::at((x, y)) + PathElement::new([(-7, 0), (7, 0)], style)))
                .map_err(err)?;
        }
        if let Some(f) = floor {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, f.mean), (n as f64 - 0.5, f.mean)],
                    8,
                    5,
                    grey.stroke_width(2),
                ))
                .map_err(err)?;
        }
        // Each bar's mean above it (above its error bar), so bars of close heights still read.
        let above = (FONT, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let top = if b.seeds > 1 { b.mean + b.std.abs() } else { b.mean };
                EmptyElement::at((i as f64, top)) + Text::new(format!("{:.1}", b.mean), (0, -4), above.clone())
            }))
            .map_err(err)?;
        let font = (FONT, size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, lines) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, lo));
            for (k, line) in lines.iter().enumerate() {
                let at = (x, y + 8 + (k as u32 * line_h) as i32);
                root.draw(&Text::new(line.as_str(), at, font.clone())).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    png(rgb, width, HEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(mean: f64, std: f64, seeds: usize) -> Bar {
        Bar { label: format!("lambda={mean}"), mean, std, seeds }
    }

    #[test]
    fn the_y_range_starts_at_the_bars_base_and_clears_the_tallest() {
        // Near 100: the axis used to read 99.5..100; it starts at 0 now and leaves headroom.
        let (lo, hi) = bar_y_range(&[bar(99.6, 0.3, 3), bar(99.9, 0.0, 1)], Some(&bar(99.5, 0.1, 3)));
        assert_eq!(lo, 0.0);
        assert!(hi > 99.9 && hi < 115.0, "{hi}");
        // Near 10 the bars still fill most of the height.
        let (lo, hi) = bar_y_range(&[bar(10.4, 0.6, 2), bar(11.2, 0.4, 2)], Some(&bar(10.0, 0.2, 2)));
        assert_eq!(lo, 0.0);
        assert!(hi > 11.6 && hi < 14.0, "{hi}");
        // A floor above every bar is inside it too; an error bar below 0 lowers the base.
        let (_, hi) = bar_y_range(&[bar(5.0, 0.0, 1)], Some(&bar(40.0, 0.0, 1)));
        assert!(hi > 40.0);
        let (lo, _) = bar_y_range(&[bar(1.0, 2.0, 2)], None);
        assert!(lo <= -1.0);
        assert_eq!(bar_y_range(&[], None), (0.0, 100.0));
        assert_eq!(bar_y_range(&[bar(f64::NAN, f64::NAN, 0)], None), (0.0, 100.0));
    }

    #[test]
    fn bars_near_100_stand_tall_from_their_base_with_the_legend_above() {
        let bars = [bar(99.6, 0.3, 3), bar(99.8, 0.2, 3)];
        let img = image::load_from_memory(&ablation_bars(&bars, Some(&bar(99.5, 0.1, 3)), "2 steps").unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        let fill = |x: u32, y: u32| img.get_pixel(x, y).0.iter().zip([70u8, 140, 195]).all(|(a, b)| a.abs_diff(b) < 8);
        // Rows holding bar colour: the legend's swatch (a short run near the top), then the bars,
        // which reach from near the x axis up to about 100/112 of the height.
        let rows: Vec<u32> = (0..HEIGHT).filter(|&y| (0..WIDTH).any(|x| fill(x, y))).collect();
        let (swatch, bars_rows): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&y| y < 60);
        assert!(!swatch.is_empty() && swatch.len() <= 14, "legend swatch rows {swatch:?}");
        let (top, bottom) = (bars_rows[0], *bars_rows.last().unwrap());
        assert!(top > *swatch.last().unwrap() + 10, "legend clear of the bars: {top}");
        assert!(bottom - top > 250, "bars from {top} to {bottom}: the base is shown");
        // Many cells widen the chart.
        assert_eq!(width_for(2), WIDTH);
        assert!(width_for(12) > WIDTH);
    }
}
