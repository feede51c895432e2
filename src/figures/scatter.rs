//! `embed`'s picture: 2-D maps of features side by side (a trained backbone beside its
//! random-init floor), one dot per image coloured by its class, the class legend in a strip at
//! the right, a title above.

use super::{ensure_font, legend, legend_width, png, range, Flow, Swatch, FONT};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One map: its title, axis names and a point per image (in the order of the labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<(f64, f64)>,
}

/// Each map's size in pixels, and the height of the title strip above them.
pub const PANEL_W: u32 = 560;
pub const PANEL_H: u32 = 560;
const TITLE_H: u32 = 44;

/// Ten colours that stay apart (matplotlib's tab10), then a hue walk for more classes.
pub fn class_color(class: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TAB10.get(class) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let HSLColor(h, s, l) = HSLColor((class as f64 * 0.618_034).fract(), 0.65, 0.45);
            let (r, g, b) = HSLColor(h, s, l).rgb();
            RGBColor(r, g, b)
        }
    }
}

/// The figure as PNG bytes: `panels` side by side under `title`, dots coloured by `labels`
/// (indices into `classes`, the legend's names).
pub fn scatter_maps(title: &str, panels: &[Panel], labels: &[usize], classes: &[String]) -> Result<Vec<u8>, String> {
    ensure_font();
    if panels.is_empty() {
        return Err("no map to draw".into());
    }
    let probe = vec![255u8; 3 * 16];
    let strip = {
        let mut buf = probe;
        let area = BitMapBackend::with_buffer(&mut buf, (4, 4)).into_drawing_area();
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        legend_width(&area, &names)?
    };
    let width = PANEL_W * panels.len() as u32 + strip;
    let height = TITLE_H + PANEL_H;
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let err = |e: DrawingAreaErrorKind<_>| e.to_string();
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, rest) = root.split_vertically(TITLE_H);
        let centred = (FONT, 18).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
        top.draw(&Text::new(title, ((width / 2) as i32, (TITLE_H / 2) as i32), centred)).map_err(err)?;
        let (maps, legend_area) = rest.split_horizontally(PANEL_W * panels.len() as u32);
        for (panel, area) in panels.iter().zip(maps.split_evenly((1, panels.len()))) {
            draw_panel(&area, panel, labels)?;
        }
        let entries: Vec<(String, Swatch)> =
            classes.iter().enumerate().map(|(c, name)| (name.clone(), Swatch::Block(class_color(c)))).collect();
        legend(&legend_area, (4, 40), &entries, Flow::Column)?;
    }
    png(rgb, width, height)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    labels: &[usize],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (x0, x1) = range(panel.points.iter().map(|p| p.0), 0.04).ok_or("a map without finite points")?;
    let (y0, y1) = range(panel.points.iter().map(|p| p.1), 0.04).ok_or("a map without finite points")?;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 15))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let dots = panel.points.iter().zip(labels).filter(|(p, _)| p.0.is_finite() && p.1.is_finite());
    chart.draw_series(dots.map(|(&p, &c)| Circle::new(p, 2, class_color(c).mix(0.7).filled()))).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_maps_and_a_legend_make_one_png_of_the_expected_size() {
        let points: Vec<(f64, f64)> = (0..30).map(|i| ((i % 3) as f64, (i / 3) as f64)).collect();
        let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let panel =
            |t: &str| Panel { title: t.into(), x_label: "PC 1".into(), y_label: "PC 2".into(), points: points.clone() };
        let bytes = scatter_maps("features", &[panel("trained"), panel("floor")], &labels, &classes).unwrap();
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(img.height(), TITLE_H + PANEL_H);
        assert!(img.width() > 2 * PANEL_W);
        // The first class's colour is on the picture (its dots and its legend block).
        let blue = image::Rgb([31u8, 119, 180]);
        assert!(img.pixels().filter(|p| **p == blue).count() > 50);
        assert!(scatter_maps("x", &[], &labels, &classes).is_err());
        assert_ne!(class_color(10), class_color(11));
    }
}
