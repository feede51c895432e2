//! Scenes for a dense benchmark built from a classification split (Fashion-MNIST): a 64x64
//! canvas of 2x2 cells of 32x32, one 28x28 item per cell at a random offset of 0-4 px, four
//! different classes per scene, so that no global feature can say which class is in which cell.
//! Each item of the split is used at most once; train scenes are built from the train split and
//! test scenes from the test split, so no item is in both. Per-patch labels: the class of the
//! cell's item where enough of the patch is foreground, else background (`BACKGROUND`).

use crate::rng::Rng;

/// Canvas side in pixels.
pub const SCENE_SIDE: usize = 64;
/// Side of a cell; 2x2 cells per scene.
pub const CELL_SIDE: usize = 32;
/// Side of an item (Fashion-MNIST's 28).
pub const ITEM_SIDE: usize = 28;
/// Largest offset of an item in its cell (CELL_SIDE - ITEM_SIDE).
pub const MAX_OFFSET: usize = CELL_SIDE - ITEM_SIDE;
/// Cells (and items, and distinct classes) per scene.
pub const CELLS: usize = 4;
/// A pixel brighter than this (of 255) is foreground: Fashion-MNIST's background is 0.
pub const FOREGROUND_PIXEL: u8 = 25;
/// A patch is labelled with its item's class when at least this share of its pixels is
/// foreground, else background.
pub const FOREGROUND_SHARE: f64 = 0.3;

/// One item in a scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the item in its split.
    pub item: usize,
    pub class: usize,
    /// Offset of the item's top-left corner in its cell, in pixels (0..=MAX_OFFSET).
    pub dx: usize,
    pub dy: usize,
}

/// A scene: its four items, cell by cell (row-major: top-left, top-right, bottom-left,
/// bottom-right).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scene {
    pub cells: [Placement; CELLS],
}

fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// Lays out scenes from a split's labels (classes `0..classes`): items shuffled per class by
/// `seed`, each scene drawing four different classes among those with items left, weighted by
/// how many are left (so the classes run out together), until fewer than four classes have
/// items or `limit` scenes are made (0: no limit).
pub fn layout(labels: &[usize], classes: usize, limit: usize, seed: u64) -> Result<Vec<Scene>, String> {
    if classes < CELLS {
        return Err(format!("scenes need at least {CELLS} classes, the split has {classes}"));
    }
    let mut rng = Rng::new(seed);
    let mut left: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in labels.iter().enumerate() {
        let queue = left.get_mut(c).ok_or_else(|| format!("label {c} of item {i} is not below {classes}"))?;
        queue.push(i);
    }
    for queue in &mut left {
        for i in (1..queue.len()).rev() {
            queue.swap(i, below(&mut rng, i + 1));
        }
    }
    let mut scenes = Vec::new();
    while limit == 0 || scenes.len() < limit {
        let mut chosen: Vec<usize> = Vec::with_capacity(CELLS);
        for _ in 0..CELLS {
            let weight = |c: usize| if chosen.contains(&c) { 0 } else { left[c].len() };
            let total: usize = (0..classes).map(weight).sum();
            if total == 0 {
                break;
            }
            let mut pick = below(&mut rng, total);
            let class = (0..classes)
                .find(|&c| {
                    let w = weight(c);
                    if pick < w {
                        return true;
                    }
                    pick -= w;
                    false
                })
                .unwrap_or(0);
            chosen.push(class);
        }
        if chosen.len() < CELLS {
            break;
        }
        let mut cells = [Placement { item: 0, class: 0, dx: 0, dy: 0 }; CELLS];
        for (cell, &class) in cells.iter_mut().zip(&chosen) {
            let item = left[class].pop().unwrap_or(0);
            *cell = Placement { item, class, dx: below(&mut rng, MAX_OFFSET + 1), dy: below(&mut rng, MAX_OFFSET + 1) };
        }
        scenes.push(Scene { cells });
    }
    Ok(scenes)
}

impl Scene {
    /// The grey canvas [SCENE_SIDE, SCENE_SIDE] with each cell's item drawn in; `item(i)` gives
    /// item i's pixels [ITEM_SIDE, ITEM_SIDE].
    pub fn render(&self, item: &dyn Fn(usize) -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
        let mut canvas = vec![0u8; SCENE_SIDE * SCENE_SIDE];
        for (c, p) in self.cells.iter().enumerate() {
            let pixels = item(p.item)?;
            if pixels.len() != ITEM_SIDE * ITEM_SIDE {
                return Err(format!("item {}: {} pixels, a scene needs {ITEM_SIDE}x{ITEM_SIDE}", p.item, pixels.len()));
            }
            let (x0, y0) = ((c % 2) * CELL_SIDE + p.dx, (c / 2) * CELL_SIDE + p.dy);
            for y in 0..ITEM_SIDE {
                let row = &pixels[y * ITEM_SIDE..(y + 1) * ITEM_SIDE];
                canvas[(y0 + y) * SCENE_SIDE + x0..(y0 + y) * SCENE_SIDE + x0 + ITEM_SIDE].copy_from_slice(row);
            }
        }
        Ok(canvas)
    }

    /// Labels of a `grid` x `grid` patch grid over the canvas (row-major): the class of the item
    /// of the cell holding the patch's centre where at least FOREGROUND_SHARE of the patch's
    /// pixels are foreground, else `background`. `grid` must divide SCENE_SIDE.
    pub fn patch_labels(&self, canvas: &[u8], grid: usize, background: usize) -> Result<Vec<usize>, String> {
        if grid == 0 || !SCENE_SIDE.is_multiple_of(grid) || canvas.len() != SCENE_SIDE * SCENE_SIDE {
            return Err(format!("a {grid}x{grid} patch grid does not tile a {SCENE_SIDE}-px scene"));
        }
        let side = SCENE_SIDE / grid;
        let mut labels = Vec::with_capacity(grid * grid);
        for gy in 0..grid {
            for gx in 0..grid {
                let (x0, y0) = (gx * side, gy * side);
                let foreground = (y0..y0 + side)
                    .flat_map(|y| (x0..x0 + side).map(move |x| (x, y)))
                    .filter(|&(x, y)| canvas[y * SCENE_SIDE + x] > FOREGROUND_PIXEL)
                    .count();
                let cell = ((y0 + side / 2) / CELL_SIDE) * 2 + (x0 + side / 2) / CELL_SIDE;
                let share = foreground as f64 / (side * side) as f64;
                labels.push(if share >= FOREGROUND_SHARE { self.cells[cell].class } else { background });
            }
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 classes of 12 items each, class c's items at c*12..(c+1)*12.
    fn labels() -> Vec<usize> {
        (0..120).map(|i| i / 12).collect()
    }

    #[test]
    fn scenes_hold_four_classes_and_use_each_item_once() {
        let labels = labels();
        let scenes = layout(&labels, 10, 0, 7).unwrap();
        // 120 items, 4 per scene: drawn by what is left, the classes run out nearly together,
        // so at most a couple of the 30 possible scenes are lost at the end.
        assert!((28..=30).contains(&scenes.len()), "{} scenes", scenes.len());
        let mut used = vec![0usize; labels.len()];
        for s in &scenes {
            let mut classes: Vec<usize> = s.cells.iter().map(|p| p.class).collect();
            classes.sort();
            classes.dedup();
            assert_eq!(classes.len(), CELLS, "four different classes: {s:?}");
            for p in &s.cells {
                assert_eq!(labels[p.item], p.class);
                assert!(p.dx <= MAX_OFFSET && p.dy <= MAX_OFFSET);
                used[p.item] += 1;
            }
        }
        assert!(used.iter().all(|&n| n <= 1), "each item at most once");
        assert_eq!(used.iter().sum::<usize>(), CELLS * scenes.len());
        // Deterministic per seed, different across seeds; a limit cuts the list.
        assert_eq!(layout(&labels, 10, 0, 7).unwrap(), scenes);
        assert_ne!(layout(&labels, 10, 0, 8).unwrap(), scenes);
        assert_eq!(layout(&labels, 10, 5, 7).unwrap(), scenes[..5].to_vec());
        assert!(layout(&[0, 1, 2], 3, 0, 0).unwrap_err().contains("at least 4 classes"));
        assert!(layout(&[0, 11], 10, 0, 0).unwrap_err().contains("label 11"));
    }

    #[test]
    fn items_are_drawn_at_their_offsets_and_patches_labelled_by_foreground() {
        let scene = Scene {
            cells: [
                Placement { item: 0, class: 3, dx: 0, dy: 0 },
                Placement { item: 1, class: 5, dx: 4, dy: 2 },
                Placement { item: 2, class: 7, dx: 1, dy: 3 },
                Placement { item: 3, class: 9, dx: 2, dy: 1 },
            ],
        };
        // Item 0 is solid, item 1 has only its left 8 columns lit, items 2 and 3 are dark.
        let item = |i: usize| -> Result<Vec<u8>, String> {
            Ok((0..ITEM_SIDE * ITEM_SIDE)
                .map(|k| match i {
                    0 => 200,
                    1 if k % ITEM_SIDE < 8 => 255,
                    _ => 0,
                })
                .collect())
        };
        let canvas = scene.render(&item).unwrap();
        let at = |x: usize, y: usize| canvas[y * SCENE_SIDE + x];
        assert_eq!((at(0, 0), at(27, 27), at(28, 0), at(0, 28)), (200, 200, 0, 0));
        // Item 1 starts at (32 + 4, 2): its lit columns are x 36..44.
        assert_eq!((at(36, 2), at(43, 29), at(44, 2), at(35, 2), at(36, 1)), (255, 255, 0, 0, 0));
        // 8x8 patches of 8 px (the laptop model at 64 px). Cell 0: x 24..32 holds item columns
        // 24..28, half the patch lit (>= 30%: the item's class); the corner patch x, y 24..32
        // has 4x4 of 8x8 lit, 25% (background).
        let labels = scene.patch_labels(&canvas, 8, 10).unwrap();
        assert_eq!(labels.len(), 64);
        assert_eq!((labels[0], labels[3], labels[3 * 8]), (3, 3, 3));
        assert_eq!(labels[3 * 8 + 3], 10);
        // Cell 1, lit x 36..44 from y 2: patches x 32..40 and 40..48 half lit, 48..56 dark; in
        // the first patch row 6 of 8 rows are lit (4 x 6 of 64, 37.5%).
        assert_eq!(&labels[8 + 4..8 + 8], &[5, 5, 10, 10]);
        assert_eq!(&labels[4..8], &[5, 5, 10, 10]);
        // Dark items are background, whatever their class.
        assert!(labels[32..].iter().all(|&l| l == 10));
        assert!(scene.patch_labels(&canvas, 7, 10).unwrap_err().contains("7x7"));
    }
}
