//! `loss.png`: the loss terms over steps (top panel) and, when the run measured it
//! (`--eval-every`), k-NN top-1 of teacher and student with the random-init floor (bottom).

use super::{ensure_font, png, range, FONT};
use plotters::prelude::*;

/// One metrics.jsonl line's values that the figure draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurvePoint {
    pub step: f64,
    pub loss: Option<f64>,
    pub global_loss: Option<f64>,
    pub query_loss: Option<f64>,
    pub knn_teacher: Option<f64>,
    pub knn_student: Option<f64>,
    pub knn_floor: Option<f64>,
}

impl CurvePoint {
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        let f = |k: &str| v[k].as_f64();
        Some(Self {
            step: f("step")?,
            loss: f("loss"),
            global_loss: f("global_loss"),
            query_loss: f("query_loss"),
            knn_teacher: f("knn_teacher_top1"),
            knn_student: f("knn_student_top1"),
            knn_floor: f("knn_floor_top1"),
        })
    }
}

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 640;

/// The figure as PNG bytes.
pub fn training_curves(points: &[CurvePoint]) -> Result<Vec<u8>, String> {
    ensure_font();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let max_step = points.iter().map(|p| p.step).fold(1.0, f64::max);
        let losses: [Series; 3] = [
            ("total loss", |p| p.loss, BLACK),
            ("global (CLS) term", |p| p.global_loss, RGBColor(31, 119, 180)),
            ("query term", |p| p.query_loss, RGBColor(214, 39, 40)),
        ];
        let knn: [Series; 3] = [
            ("teacher", |p| p.knn_teacher, RGBColor(44, 160, 44)),
            ("student", |p| p.knn_student, RGBColor(255, 127, 14)),
            ("random-init floor", |p| p.knn_floor, RGBColor(127, 127, 127)),
        ];
        panel(&top, points, &losses, max_step, "Training loss", "loss (nats)", SeriesLabelPosition::UpperRight)?;
        if points.iter().any(|p| p.knn_teacher.is_some()) {
            let title = "k-NN top-1 on the test split";
            panel(&bottom, points, &knn, max_step, title, "top-1 (%)", SeriesLabelPosition::UpperLeft)?;
        } else {
            bottom
                .draw(&Text::new(
                    "no k-NN during this run (train --eval-every N draws it here)",
                    (80, 140),
                    (FONT, 16).into_font(),
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    png(rgb, WIDTH, HEIGHT)
}

/// A series: its legend name, how to read it from a point, its colour.
type Series = (&'static str, fn(&CurvePoint) -> Option<f64>, RGBColor);

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[CurvePoint],
    series: &[Series],
    max_step: f64,
    title: &str,
    y_label: &str,
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    let values = series.iter().flat_map(|(_, get, _)| points.iter().filter_map(get));
    let (lo, hi) = range(values, 0.05).unwrap_or((0.0, 1.0));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_step, lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    for &(name, get, color) in series {
        let mut xy: Vec<(f64, f64)> =
            points.iter().filter_map(|p| get(p).filter(|v| v.is_finite()).map(|v| (p.step, v))).collect();
        // Lines appended later (evaluations of snapshots) may come out of order.
        xy.sort_by(|a, b| a.0.total_cmp(&b.0));
        if xy.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if xy.len() < 30 {
            chart.draw_series(xy.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| e.to_string())?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> image::RgbImage {
        image::load_from_memory(bytes).expect("a PNG").to_rgb8()
    }

    /// Pixels of roughly this colour (the legend swatch and the line drawn in it).
    fn count(img: &image::RgbImage, c: [u8; 3]) -> usize {
        img.pixels().filter(|p| p.0.iter().zip(c).all(|(a, b)| a.abs_diff(b) < 8)).count()
    }

    #[test]
    fn curves_draw_every_series_and_the_knn_panel_only_when_measured() {
        let mut points: Vec<CurvePoint> = (1..=20)
            .map(|s| CurvePoint {
                step: s as f64,
                loss: Some(9.0 - s as f64 * 0.1),
                global_loss: Some(6.0 - s as f64 * 0.05),
                query_loss: Some(5.0 - s as f64 * 0.1),
                ..Default::default()
            })
            .collect();
        let plain = decode(&training_curves(&points).unwrap());
        assert_eq!(plain.dimensions(), (WIDTH, HEIGHT));
        assert!(count(&plain, [31, 119, 180]) > 100 && count(&plain, [214, 39, 40]) > 100);
        assert_eq!(count(&plain, [44, 160, 44]), 0, "no k-NN measured, no teacher curve");
        for (i, s) in [0.0, 10.0, 20.0].into_iter().enumerate() {
            points.push(CurvePoint {
                step: s,
                knn_teacher: Some(60.0 + i as f64),
                knn_student: Some(59.0 + i as f64),
                knn_floor: Some(60.0),
                ..Default::default()
            });
        }
        let with_knn = decode(&training_curves(&points).unwrap());
        assert!(count(&with_knn, [44, 160, 44]) > 100 && count(&with_knn, [255, 127, 14]) > 100);
        // Text is drawn (the embedded font): dark pixels well beyond the axes' lines.
        assert!(count(&with_knn, [0, 0, 0]) > 3_000);
    }
}
