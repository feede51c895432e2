//! Scoring patch labels: per-scene confusion counts, foreground mIoU (the ten item classes) and
//! background IoU apart, and percentile-bootstrap intervals over test scenes, alone or paired
//! (two labellings of the same scenes, resampled together).

use super::{BACKGROUND, CLASSES};
use crate::rng::Rng;

/// Per test scene, per class: (true positives, false positives, false negatives).
pub type Confusion = Vec<[[usize; 3]; CLASSES + 1]>;

/// The confusion counts of `predicted` against `truth`, `per_scene` patches a scene.
pub fn confusion(predicted: &[usize], truth: &[usize], per_scene: usize) -> Confusion {
    predicted
        .chunks(per_scene)
        .zip(truth.chunks(per_scene))
        .map(|(p, y)| {
            let mut c = [[0usize; 3]; CLASSES + 1];
            for (&p, &y) in p.iter().zip(y) {
                if p == y {
                    c[y][0] += 1;
                } else {
                    c[p.min(CLASSES)][1] += 1;
                    c[y][2] += 1;
                }
            }
            c
        })
        .collect()
}

/// Which classes a mean IoU averages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classes {
    /// All eleven (items and background).
    All,
    /// The ten item classes.
    Foreground,
    /// Background alone.
    Background,
}

/// Mean IoU (%) over the chosen classes present in the union of the given scenes' truth or
/// prediction.
pub fn miou_of(c: &Confusion, classes: Classes, scenes: &mut dyn Iterator<Item = usize>) -> f64 {
    let mut sum = [[0usize; 3]; CLASSES + 1];
    for s in scenes {
        for (k, v) in c[s].iter().enumerate() {
            (0..3).for_each(|j| sum[k][j] += v[j]);
        }
    }
    let wanted = |k: usize| match classes {
        Classes::All => true,
        Classes::Foreground => k != BACKGROUND,
        Classes::Background => k == BACKGROUND,
    };
    let ious: Vec<f64> = sum
        .iter()
        .enumerate()
        .filter(|(k, v)| wanted(*k) && v[0] + v[1] + v[2] > 0)
        .map(|(_, v)| v[0] as f64 / (v[0] + v[1] + v[2]) as f64)
        .collect();
    100.0 * ious.iter().sum::<f64>() / ious.len().max(1) as f64
}

/// A figure and its 95% percentile-bootstrap interval over test scenes.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// The resampled scene lists of a bootstrap: `resamples` draws of `scenes` scenes with
/// replacement, the same for every figure of one evaluation (so differences are paired).
pub fn resamples(scenes: usize, resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::new(seed ^ 0xB007);
    (0..resamples).map(|_| (0..scenes).map(|_| (rng.next_u64() % scenes.max(1) as u64) as usize).collect()).collect()
}

/// `stat` of all scenes, and its 2.5 and 97.5 percentiles over the resamples.
pub fn bootstrap(
    scenes: usize,
    draws: &[Vec<usize>],
    stat: &dyn Fn(&mut dyn Iterator<Item = usize>) -> f64,
) -> Estimate {
    let value = stat(&mut (0..scenes));
    let mut values: Vec<f64> = draws.iter().map(|d| stat(&mut d.iter().copied())).collect();
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(value);
    Estimate { value, low: at(0.025), high: at(0.975) }
}

/// Foreground mIoU and background IoU of a labelling of the test scenes (the mean over the
/// probe seeds' labellings), with intervals.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Labelling {
    pub fg_miou: Estimate,
    pub bg_iou: Estimate,
}

/// The mean over labellings of one class group's mIoU on the given scenes.
fn mean_of(cs: &[Confusion], classes: Classes, scenes: &mut dyn Iterator<Item = usize>) -> f64 {
    let scenes: Vec<usize> = scenes.collect();
    cs.iter().map(|c| miou_of(c, classes, &mut scenes.iter().copied())).sum::<f64>() / cs.len().max(1) as f64
}

/// Scores labellings of the same scenes (one per probe seed: their mean); `draws` from
/// `resamples`.
pub fn score(cs: &[Confusion], draws: &[Vec<usize>]) -> Labelling {
    let scenes = cs.first().map_or(0, Vec::len);
    Labelling {
        fg_miou: bootstrap(scenes, draws, &|s| mean_of(cs, Classes::Foreground, s)),
        bg_iou: bootstrap(scenes, draws, &|s| mean_of(cs, Classes::Background, s)),
    }
}

/// Foreground mIoU of `a` minus that of `b` (labellings of the same scenes, each the mean over
/// its probe seeds), with the paired bootstrap interval (each resample scores both on the same
/// scenes).
pub fn fg_difference(a: &[Confusion], b: &[Confusion], draws: &[Vec<usize>]) -> Estimate {
    let diff = |s: &mut dyn Iterator<Item = usize>| {
        let scenes: Vec<usize> = s.collect();
        mean_of(a, Classes::Foreground, &mut scenes.iter().copied())
            - mean_of(b, Classes::Foreground, &mut scenes.iter().copied())
    };
    bootstrap(a.first().map_or(0, Vec::len), draws, &diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miou_counts_each_class_present_apart_for_items_and_background() {
        // Two scenes of 4 patches: scene 0 all right, scene 1 half wrong (class 1 read as 2).
        let truth = [0, 0, 1, 10, 1, 1, 2, 10];
        let predicted = [0, 0, 1, 10, 2, 2, 2, 10];
        let c = confusion(&predicted, &truth, 4);
        // Classes 0 (1), 1 (1 of 3 -> 1/3), 2 (1 of 3 -> 1/3), background (1).
        let all = miou_of(&c, Classes::All, &mut (0..2));
        assert!((all - 100.0 * (1.0 + 1.0 / 3.0 + 1.0 / 3.0 + 1.0) / 4.0).abs() < 1e-9, "{all}");
        let fg = miou_of(&c, Classes::Foreground, &mut (0..2));
        assert!((fg - 100.0 * (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-9, "{fg}");
        assert_eq!(miou_of(&c, Classes::Background, &mut (0..2)), 100.0);
        assert_eq!(miou_of(&c, Classes::All, &mut [0, 0].into_iter()), 100.0);
        let draws = resamples(c.len(), 100, 0);
        let est = bootstrap(c.len(), &draws, &|s| miou_of(&c, Classes::All, s));
        assert_eq!(est.value, all);
        assert!(est.low <= est.value && est.value <= est.high && est.low < est.high, "{est:?}");
    }

    #[test]
    fn a_paired_difference_is_exact_where_one_labelling_is_better_on_every_scene() {
        // 20 scenes of 4 patches; `good` right everywhere, `bad` wrong on one item patch a scene.
        let truth: Vec<usize> = (0..20).flat_map(|s| [s % 10, s % 10, (s + 1) % 10, BACKGROUND]).collect();
        let bad: Vec<usize> = truth.chunks(4).flat_map(|c| [c[0], (c[1] + 5) % 10, c[2], c[3]]).collect();
        let (good, bad) = (confusion(&truth, &truth, 4), confusion(&bad, &truth, 4));
        let draws = resamples(20, 200, 3);
        let (good, bad) = ([good], [bad]);
        let d = fg_difference(&good, &bad, &draws);
        assert!(d.value > 0.0 && d.low > 0.0, "{d:?}");
        let same = fg_difference(&good, &good, &draws);
        assert_eq!((same.value, same.low, same.high), (0.0, 0.0, 0.0));
        // Two probe seeds: the mean of their figures.
        let both = score(&[good[0].clone(), bad[0].clone()], &draws);
        let one = (score(&good, &draws).fg_miou.value + score(&bad, &draws).fg_miou.value) / 2.0;
        assert!((both.fg_miou.value - one).abs() < 1e-9);
        let s = score(&bad, &draws);
        assert_eq!(s.bg_iou.value, 100.0);
        assert!(s.fg_miou.value < 100.0);
    }
}
