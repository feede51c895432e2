//! A grid's report: `results.md` (each cell's figures as mean +- std over seeds, the gain over
//! the random-init floor, and seed-paired differences with 95% intervals against the floor and
//! against the grid's reference cell) and `results.png`.

use super::paired::{paired, Paired};
use super::Contrast;
use crate::error::{Error, Result};
use crate::figures::bars::{ablation_bars, Bar};
use std::path::Path;

/// Mean and sample standard deviation (n - 1; 0 for one value) of the values.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    (mean, var.sqrt())
}

/// (axis, value) pairs naming one cell of the grid.
pub type AxisValues = Vec<(String, String)>;

/// A cell's name, axis values and the result of each of its seeds.
pub type Row = (String, AxisValues, Vec<(u64, serde_json::Value)>);

/// Mean +- std of a number over a cell's successful seeds.
fn over_seeds(results: &[(u64, serde_json::Value)], key: &str) -> (f64, f64, usize) {
    let values: Vec<f64> = results.iter().filter_map(|(_, v)| v[key].as_f64()).collect();
    let (mean, std) = mean_std(&values);
    (mean, std, values.len())
}

/// The figures results.md reports, each with its title: k-NN and those of the extra evaluations.
const FIGURES: [(&str, &str); 11] = [
    ("top1", "k-NN top-1"),
    ("linear_top1", "linear top-1"),
    ("dense_cell_fg_miou", "dense probe fg mIoU (cell layout)"),
    ("dense_scene_fg_miou", "dense probe fg mIoU (scene layout)"),
    ("dense_cell_patch_knn", "patch k-NN top-1 (cell layout)"),
    ("dense_cell_retrieval_fg_miou", "retrieval fg mIoU (cell layout)"),
    ("dense_pixels_position_fg_miou", "control: pixels + position fg mIoU"),
    ("dense_positive_control_fg_miou", "control: positive fg mIoU"),
    ("dense_cell_bg_iou", "dense probe bg IoU (cell layout)"),
    ("end_teacher_batch_entropy_query", "query teacher batch-mean entropy, last step (nats)"),
    ("end_teacher_modes_query", "query teacher modes, last step"),
];

/// (seed, figure) of a cell's seeds that report `key`.
fn figure(results: &[(u64, serde_json::Value)], key: &str) -> Vec<(u64, f64)> {
    results.iter().filter_map(|(s, v)| Some((*s, v[key].as_f64()?))).collect()
}

/// The figures a difference is taken of: those some cell reports, less the pixel controls
/// (the same for every cell: no difference to take).
fn compared_figures(rows: &[Row]) -> Vec<(&'static str, &'static str)> {
    FIGURES
        .into_iter()
        .filter(|(key, _)| !key.starts_with("dense_pixels") && !key.starts_with("dense_positive"))
        .filter(|(key, _)| rows.iter().any(|(_, _, r)| !figure(r, key).is_empty()))
        .collect()
}

/// " mean +- half-width (n seeds) | seed: difference, ... |", or dashes without a shared seed.
fn paired_cells(p: Option<Paired>) -> String {
    match p {
        Some(p) => {
            let seeds: Vec<String> = p.per_seed.iter().map(|(s, d)| format!("{s}: {d:+.2}")).collect();
            format!(" {} | {} |", p.text(), seeds.join(", "))
        }
        None => " - | - |".to_string(),
    }
}

/// A contrast's per-seed (A - B) - (C - D) of one figure, with its interval (None where some
/// cell lacks the figure, or the two differences share no seed).
pub fn contrast(rows: &[Row], c: &Contrast, key: &str) -> Option<Paired> {
    let of = |name: &str| rows.iter().find(|(n, _, _)| n == name).map(|(_, _, r)| figure(r, key));
    let gain = |[a, b]: &[String; 2]| paired(&of(a)?, &of(b)?).map(|p| p.per_seed);
    paired(&gain(&c.of)?, &gain(&c.against)?)
}

/// The markdown section of the grid's contrasts (None without any).
fn contrast_section(rows: &[Row], contrasts: &[Contrast]) -> Option<String> {
    if contrasts.is_empty() {
        return None;
    }
    let figures = compared_figures(rows);
    let mut md = String::from("\n## Contrasts, seed-paired\n\nEach figure: the mean over seeds of (A - B) - (C - D), the four cells at the same seed, +- the half-width of its 95% t interval; then the value per seed.\n\n| contrast | (A - B) - (C - D) |");
    for (_, t) in &figures {
        md += &format!(" {t} | per seed |");
    }
    md += "\n|---|---|";
    md += &"---|---|".repeat(figures.len());
    md.push('\n');
    for c in contrasts {
        md += &format!("| {} | ({} - {}) - ({} - {}) |", c.name, c.of[0], c.of[1], c.against[0], c.against[1]);
        for (key, _) in &figures {
            md += &paired_cells(contrast(rows, c, key));
        }
        md.push('\n');
    }
    Some(md)
}

/// The markdown section of seed-paired differences of every other cell against `against`.
fn paired_section(rows: &[Row], against: &str, title: &str) -> Option<String> {
    let (_, _, base) = rows.iter().find(|(name, _, _)| name == against)?;
    let figures = compared_figures(rows);
    let mut md = format!("\n## {title}\n\nEach figure: the mean of the per-seed differences (cell - `{against}`, same seed), +- the half-width of its 95% t interval; then the difference per seed.\n\n| cell |");
    for (_, t) in &figures {
        md += &format!(" {t} | per seed |");
    }
    md += "\n|---|";
    md += &"---|---|".repeat(figures.len());
    md.push('\n');
    for (name, _, results) in rows.iter().filter(|(n, _, _)| n != against && n != "random-init") {
        md += &format!("| {name} |");
        for (key, _) in &figures {
            md += &paired_cells(paired(&figure(results, key), &figure(base, key)));
        }
        md.push('\n');
    }
    Some(md)
}

/// Writes results.md and results.png into `out`, and results.md into the record when there is one.
pub fn write_results(
    out: &Path,
    record: Option<&Path>,
    rows: &[Row],
    references: &[String],
    contrasts: &[Contrast],
) -> Result<()> {
    let mut keys: Vec<String> = Vec::new();
    for (_, values, _) in rows {
        for (k, _) in values {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let floor = rows.iter().find(|(name, _, _)| name == "random-init").map(|(_, _, r)| over_seeds(r, "top1"));
    // Columns of the extra evaluations some cell has: mean +- std over seeds (gain over the floor).
    let extra: Vec<(&str, &str)> = FIGURES[1..]
        .iter()
        .copied()
        .filter(|(key, _)| rows.iter().any(|(_, _, r)| r.iter().any(|(_, v)| v[*key].is_number())))
        .collect();
    let mut md = String::from("| cell | ");
    md += &keys.join(" | ");
    md += " | k-NN top-1 (mean +- std) | gain over floor | seeds | top-1 per seed | top-5 | final loss | steps | minutes |";
    for (_, title) in &extra {
        md += &format!(" {title} (gain) |");
    }
    md += "\n|---|";
    md += &"---|".repeat(keys.len() + 8 + extra.len());
    md.push('\n');
    for (name, values, results) in rows {
        let cell = |k: &str| values.iter().find(|(kk, _)| kk == k).map_or("-".to_string(), |(_, v)| v.clone());
        let (top1, std1, ok) = over_seeds(results, "top1");
        let (top5, std5, _) = over_seeds(results, "top5");
        let (loss, _, with_loss) = over_seeds(results, "final_loss");
        let steps = results.iter().filter_map(|(_, v)| v["steps"].as_u64()).max().unwrap_or(0);
        // + 0.0: the sum of no values is -0.0, which would print as "-0.0".
        let minutes = results.iter().filter_map(|(_, v)| v["seconds"].as_f64()).sum::<f64>() / 60.0 + 0.0;
        let per_seed: Vec<String> = results
            .iter()
            .map(|(seed, v)| match v["top1"].as_f64() {
                Some(t) => format!("{seed}: {t:.1}"),
                None => format!("{seed}: failed ({})", v["error"].as_str().unwrap_or("?").replace('|', "/")),
            })
            .collect();
        let num = |x: f64, std: f64| if ok > 0 { format!("{x:.1} +- {std:.1}") } else { "-".into() };
        let gain = match floor {
            Some((f, _, n)) if n > 0 && ok > 0 && name != "random-init" => format!("{:+.1}", top1 - f),
            _ => "-".into(),
        };
        let mut line = format!("| {name} | ");
        let extra_cells: Vec<String> = extra
            .iter()
            .map(|(key, _)| {
                let (m, s, n) = over_seeds(results, key);
                let f = rows.iter().find(|(r, _, _)| r == "random-init").map(|(_, _, r)| over_seeds(r, key));
                match (n, f) {
                    (0, _) => "-".to_string(),
                    (_, Some((fm, _, fnum))) if fnum > 0 && name != "random-init" => {
                        format!("{m:.1} +- {s:.1} ({:+.1})", m - fm)
                    }
                    _ => format!("{m:.1} +- {s:.1}"),
                }
            })
            .collect();
        line += &keys.iter().map(|k| cell(k)).collect::<Vec<_>>().join(" | ");
        line += &format!(
            " | {} | {gain} | {ok}/{} | {} | {} | {} | {steps} | {minutes:.1} |",
            num(top1, std1),
            results.len(),
            per_seed.join(", "),
            num(top5, std5),
            if with_loss > 0 { format!("{loss:.3}") } else { "-".into() },
        );
        for c in &extra_cells {
            line += &format!(" {c} |");
        }
        md += &line;
        md.push('\n');
    }
    if let Some(s) = paired_section(rows, "random-init", "Gain over the random-init floor, seed-paired") {
        md += &s;
    }
    for r in references {
        if let Some(s) = paired_section(rows, r, &format!("Against `{r}`, seed-paired")) {
            md += &s;
        }
    }
    if let Some(s) = contrast_section(rows, contrasts) {
        md += &s;
    }
    crate::fs::write_atomic(&out.join("results.md"), md.as_bytes())?;
    if let Some(record) = record {
        crate::fs::write_atomic(&record.join("results.md"), md.as_bytes())?;
    }
    let bar = |(name, _, results): &Row| {
        let (mean, std, seeds) = over_seeds(results, "top1");
        (seeds > 0).then(|| Bar { label: name.clone(), mean, std, seeds })
    };
    let bars: Vec<Bar> = rows.iter().filter(|r| r.0 != "random-init").filter_map(bar).collect();
    let floor_bar = rows.iter().find(|r| r.0 == "random-init").and_then(bar);
    let steps = rows.iter().flat_map(|r| r.2.iter()).filter_map(|(_, v)| v["steps"].as_u64()).max().unwrap_or(0);
    let png = ablation_bars(&bars, floor_bar.as_ref(), &format!("{steps} steps per run"))
        .map_err(|e| Error::Data(format!("results.png: {e}")))?;
    crate::fs::write_atomic(&out.join("results.png"), &png)
}

#[cfg(test)]
mod tests {
    use super::{contrast, contrast_section, mean_std, Row};
    use crate::ablate::Contrast;
    use serde_json::json;

    fn row(name: &str, top1: &[(u64, f64)]) -> Row {
        (name.into(), vec![], top1.iter().map(|&(s, t)| (s, json!({ "top1": t }))).collect())
    }

    #[test]
    fn a_contrast_is_the_seed_paired_difference_of_two_differences() {
        let rows = vec![
            row("a0", &[(0, 75.0), (1, 74.0), (2, 70.0)]),
            row("d0", &[(0, 72.0), (1, 72.5), (2, 69.0)]),
            row("a", &[(0, 73.0), (1, 73.0), (2, 71.0)]),
            // Seed 2 is missing here: the contrast takes seeds 0 and 1.
            row("d", &[(0, 72.0), (1, 71.0)]),
        ];
        let c = Contrast {
            name: "gain at 0 - gain at 2".into(),
            of: ["a0".into(), "d0".into()],
            against: ["a".into(), "d".into()],
        };
        let p = contrast(&rows, &c, "top1").unwrap();
        // Seed 0: (75 - 72) - (73 - 72) = 2; seed 1: (74 - 72.5) - (73 - 71) = -0.5.
        assert_eq!(p.per_seed, vec![(0, 2.0), (1, -0.5)]);
        assert!((p.mean - 0.75).abs() < 1e-12);
        assert!((p.half_width.unwrap() - 12.706 * 1.25).abs() < 1e-9, "sd 1.768, n 2: t(1) sd / sqrt 2");
        let md = contrast_section(&rows, std::slice::from_ref(&c)).unwrap();
        assert!(
            md.contains(
                "| gain at 0 - gain at 2 | (a0 - d0) - (a - d) | +0.75 +- 15.88 (2 seeds) | 0: +2.00, 1: -0.50 |"
            ),
            "{md}"
        );
        let missing = Contrast { of: ["a0".into(), "nobody".into()], ..c };
        assert!(contrast(&rows, &missing, "top1").is_none());
        assert!(contrast_section(&rows, &[]).is_none());
    }

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12 && (s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
