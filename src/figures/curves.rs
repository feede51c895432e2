//! `loss.png`: the loss terms over steps (top panel) and, when the run measured it
//! (`--eval-every`, `--final-knn`), k-NN top-1 of teacher and student with the random-init floor
//! (bottom). Step ticks are whole numbers; the legends sit in a strip right of each panel.

use super::{ensure_font, legend, legend_width, png, range, Flow, Swatch, Ticked, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// At most this many intervals between the step ticks (so at most one more tick).
pub const MAX_TICK_INTERVALS: usize = 10;

/// The whole number of steps between x ticks for a run of `max_step` steps: the smallest of
/// 1, 2, 5, 10, 20, 50, ... that leaves at most [`MAX_TICK_INTERVALS`] intervals, so the ticks
/// are distinct integers (0, 1, ..., 8 for 8 steps; 0, 500, ..., 2500 for 2,500).
pub fn integer_tick_step(max_step: usize) -> usize {
    let mut decade = 1usize;
    loop {
        for m in [1, 2, 5] {
            let Some(step) = decade.checked_mul(m) else { return usize::MAX };
            if max_step / step <= MAX_TICK_INTERVALS {
                return step;
            }
        }
        decade = match decade.checked_mul(10) {
            Some(d) => d,
            None => return usize::MAX,
        };
    }
}

/// The x ticks of a run of `max_step` steps: 0 and every multiple of the tick step up to it.
pub fn step_ticks(max_step: usize) -> Vec<f64> {
    (0..=max_step).step_by(integer_tick_step(max_step)).map(|s| s as f64).collect()
}

/// The k-NN series (teacher, student, floor) of a point that has a finite value.
fn has_knn(p: &CurvePoint) -> bool {
    [p.knn_teacher, p.knn_student, p.knn_floor].into_iter().flatten().any(f64::is_finite)
}

/// The figure as PNG bytes.
pub fn training_curves(points: &[CurvePoint]) -> Result<Vec<u8>, String> {
    ensure_font();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let last = points.iter().map(|p| p.step).filter(|s| s.is_finite()).fold(1.0, f64::max);
        let max_step = last.ceil() as usize;
        let losses: [Series; 3] = [
            ("total loss", |p| p.loss, BLACK),
            ("global (CLS) term", |p| p.global_loss, RGBColor(31, 119, 180)),
            ("query term", |p| p.query_loss, RGBColor(214, 39, 40)),
        ];
        let knn: [Series; 3] = [
            ("teacher", |p| p.knn_teacher, TEACHER),
            ("student", |p| p.knn_student, RGBColor(255, 127, 14)),
            ("random-init floor", |p| p.knn_floor, RGBColor(127, 127, 127)),
        ];
        // One legend strip width for both panels, so that their step axes line up.
        let names: Vec<&str> = losses.iter().chain(&knn).map(|s| s.0).collect();
        let strip = legend_width(&root, &names)?;
        let x = Layout { strip, max_step, ticks: step_ticks(max_step) };
        panel(&top, points, &losses, &x, "Training loss", "loss (nats)", false)?;
        if points.iter().any(has_knn) {
            panel(&bottom, points, &knn, &x, "k-NN top-1 on the test split", "top-1 (%)", true)?;
        } else {
            let centred = (FONT, 16).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
            let mid = (WIDTH / 2) as i32;
            for (i, line) in ["no k-NN during this run", "(train --eval-every N or --final-knn draws it here)"]
                .into_iter()
                .enumerate()
            {
                let at = (mid, (HEIGHT / 4) as i32 - 12 + 26 * i as i32);
                bottom.draw(&Text::new(line, at, centred.clone())).map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    png(rgb, WIDTH, HEIGHT)
}

/// The teacher's k-NN colour.
pub const TEACHER: RGBColor = RGBColor(44, 160, 44);

/// A series: its legend name, how to read it from a point, its colour.
type Series = (&'static str, fn(&CurvePoint) -> Option<f64>, RGBColor);

/// The least height of the k-NN panel, in percentage points.
const MIN_KNN_SPAN: f64 = 2.0;

/// What both panels share: the legend strip's width and the step axis.
struct Layout {
    strip: u32,
    max_step: usize,
    ticks: Vec<f64>,
}

/// One panel: the chart on the left, its legend in a strip of `x.strip` pixels on the right.
/// `dots`: a marker at every point (k-NN, measured rarely; a single final measurement would
/// otherwise be an invisible one-point line); else only on short series.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[CurvePoint],
    series: &[Series],
    x: &Layout,
    title: &str,
    y_label: &str,
    dots: bool,
) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let (chart_area, legend_area) = area.split_horizontally(w.saturating_sub(x.strip));
    let values = series.iter().flat_map(|(_, get, _)| points.iter().filter_map(get));
    let (mut lo, mut hi) = range(values, 0.05).unwrap_or((0.0, 1.0));
    // k-NN percentages (the dotted panel) span at least 2 points, so that a difference of
    // 0.2 points between two measurements does not fill the panel's height.
    if dots && hi - lo < MIN_KNN_SPAN {
        let mid = (lo + hi) / 2.0;
        (lo, hi) = (mid - MIN_KNN_SPAN / 2.0, mid + MIN_KNN_SPAN / 2.0);
    }
    // A little room either side, so the markers at step 0 and at the last step stay whole.
    let pad = x.max_step as f64 * 0.02;
    let x_range = Ticked::new(-pad..x.max_step as f64 + pad, x.ticks.clone());
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, lo..hi)
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
    let mut entries = Vec::new();
    for &(name, get, color) in series {
        let mut xy: Vec<(f64, f64)> =
            points.iter().filter_map(|p| get(p).filter(|v| v.is_finite()).map(|v| (p.step, v))).collect();
        // Lines appended later (evaluations of snapshots) may come out of order.
        xy.sort_by(|a, b| a.0.total_cmp(&b.0));
        if xy.is_empty() {
            continue;
        }
        chart.draw_series(LineSeries::new(xy.clone(), color.stroke_width(2))).map_err(|e| e.to_string())?;
        let dotted = dots || xy.len() < 30;
        if dotted {
            chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(|e| e.to_string())?;
        }
        entries.push((name.to_string(), if dotted { Swatch::LineDot(color) } else { Swatch::Line(color) }));
    }
    // The legend's first entry level with the top of the plotting area.
    let plot_top = chart.plotting_area().get_pixel_range().1.start - legend_area.get_base_pixel().1;
    legend(&legend_area, (4, plot_top), &entries, Flow::Column)
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
        assert!(count(&with_knn, [TEACHER.0, TEACHER.1, TEACHER.2]) > 100 && count(&with_knn, [255, 127, 14]) > 100);
        // Text is drawn (the embedded font): dark pixels well beyond the axes' lines.
        assert!(count(&with_knn, [0, 0, 0]) > 3_000);
    }

    #[test]
    fn step_ticks_are_distinct_whole_numbers_for_short_and_long_runs() {
        let cases =
            [(0, 1), (1, 1), (3, 1), (8, 1), (10, 1), (11, 2), (24, 5), (100, 10), (2_500, 500), (100_000, 10_000)];
        for (max_step, step) in cases {
            assert_eq!(integer_tick_step(max_step), step, "{max_step} steps");
            let ticks = step_ticks(max_step);
            assert!(ticks.len() <= MAX_TICK_INTERVALS + 1 && ticks[0] == 0.0, "{max_step}: {ticks:?}");
            assert!(ticks.windows(2).all(|w| w[1] - w[0] == step as f64), "{max_step}: {ticks:?}");
            assert!(*ticks.last().unwrap() <= max_step as f64);
            // As the axis writes them: no two alike.
            let text: Vec<String> = ticks.iter().map(|x| format!("{x:.0}")).collect();
            assert!(text.windows(2).all(|w| w[0] != w[1]), "{text:?}");
        }
        assert_eq!(step_ticks(8), (0..=8).map(f64::from).collect::<Vec<_>>());
        assert_eq!(step_ticks(2_500), vec![0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0]);
        // No overflow at the very end of the range.
        assert!(usize::MAX / integer_tick_step(usize::MAX) <= MAX_TICK_INTERVALS);
    }

    #[test]
    fn a_single_final_knn_measurement_is_drawn() {
        let mut points: Vec<CurvePoint> = (1..=8)
            .map(|s| CurvePoint { step: s as f64, loss: Some(9.0 - s as f64 * 0.1), ..Default::default() })
            .collect();
        // The final k-NN: teacher and floor at the last step, no student.
        points.push(CurvePoint { step: 8.0, knn_teacher: Some(31.5), knn_floor: Some(10.2), ..Default::default() });
        let img = decode(&training_curves(&points).unwrap());
        // Columns of the bottom panel holding teacher colour: the marker in the chart, then,
        // after a gap, the legend's swatch in the strip on the right.
        let teacher = |x: u32| {
            (HEIGHT / 2..HEIGHT).any(|y| {
                img.get_pixel(x, y).0.iter().zip([TEACHER.0, TEACHER.1, TEACHER.2]).all(|(a, b)| a.abs_diff(b) < 8)
            })
        };
        let columns: Vec<u32> = (0..WIDTH).filter(|&x| teacher(x)).collect();
        let gap = columns.windows(2).position(|w| w[1] - w[0] > 1).expect("a marker apart from the legend");
        assert!(gap + 1 >= 6, "the teacher's one point shows as a marker {} px wide: {columns:?}", gap + 1);
        assert_eq!(count(&img, [255, 127, 14]), 0, "no student measured, none drawn or listed");
    }

    #[test]
    fn legends_sit_right_of_the_charts() {
        let points: Vec<CurvePoint> = (1..=8)
            .map(|s| CurvePoint {
                step: s as f64,
                loss: Some(9.0),
                query_loss: Some(5.0 - s as f64 * 0.1),
                knn_teacher: Some(20.0 + s as f64),
                ..Default::default()
            })
            .collect();
        let img = decode(&training_curves(&points).unwrap());
        let red = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
            xs.flat_map(|x| ys.clone().map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0.iter().zip([214u8, 39, 40]).all(|(a, b)| a.abs_diff(b) < 8))
                .count()
        };
        // The query curve runs through the chart; its legend swatch lies in the strip on the
        // right, where no data is drawn: the curve ends before it.
        assert!(red(0..WIDTH - 200, 0..HEIGHT / 2) > 100);
        assert!(red(WIDTH - 170..WIDTH, 0..HEIGHT / 2) > 20);
        let columns: Vec<u32> = (0..WIDTH).filter(|&x| red(x..x + 1, 0..HEIGHT / 2) > 0).collect();
        let (legend_x, gap) = columns.windows(2).map(|w| (w[1], w[1] - w[0])).max_by_key(|g| g.1).unwrap();
        assert!(columns[0] < 200 && gap > 10 && legend_x > WIDTH - 200, "legend clear of the curve: {columns:?}");
    }
}
