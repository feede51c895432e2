//! STL-10, binary version: `*_X.bin` holds 96x96 RGB images as three planes (R, G, B),
//! each stored column-major (byte `x * 96 + y` is pixel (x, y)); `*_y.bin` one label byte
//! (1..10) per image. Images are read on demand: `unlabeled_X.bin` is 2.7 GB.

use super::records::{self, RecordFile};
use super::Split;
use image::RgbImage;
use std::path::{Path, PathBuf};

pub const STL10_CLASSES: [&str; 10] =
    ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"];

/// Image side in pixels.
const SIDE: usize = 96;
/// Bytes of one colour plane.
const PLANE: usize = SIDE * SIDE;
/// Bytes of one image: [3, 96, 96], planes R, G, B, each column-major.
const RECORD: usize = 3 * PLANE;

const HOLDS: &str = "an STL-10 binary folder (stl10_binary/) holds train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin and class_names.txt";
const LAYOUT: &str = "STL-10 image: 3 x 96 x 96 bytes";

/// A split of STL-10: its image file and, for train and test, the labels (0-based).
#[derive(Debug)]
pub struct Stl10Images {
    /// The folder the files are in.
    pub dir: PathBuf,
    images: RecordFile,
    /// [n], 0..9; `None` for `unlabeled_X.bin`
    pub labels: Option<Vec<u8>>,
    /// [10]
    pub classes: Vec<String>,
}

/// Opens `split` of the STL-10 folder `dir` (or of `dir/stl10_binary/`): train is
/// `train_X.bin` with its labels, or `unlabeled_X.bin` without labels when `unlabeled`;
/// test is `test_X.bin` with its labels.
pub fn open(dir: &Path, split: Split, unlabeled: bool) -> Result<Stl10Images, String> {
    records::require_folder(dir, HOLDS)?;
    let dir = records::descend(dir, "stl10_binary", "test_X.bin");
    let stem = match (split, unlabeled) {
        (Split::Train, true) => "unlabeled",
        (Split::Train, false) => "train",
        (Split::Test, _) => "test",
    };
    let images = RecordFile::open(&dir.join(format!("{stem}_X.bin")), RECORD, HOLDS, LAYOUT)?;
    let labels = if stem == "unlabeled" { None } else { Some(labels(&dir.join(format!("{stem}_y.bin")), &images)?) };
    let classes = records::class_names(&dir.join("class_names.txt"), STL10_CLASSES.len())?
        .unwrap_or_else(|| STL10_CLASSES.iter().map(|s| s.to_string()).collect());
    Ok(Stl10Images { dir, images, labels, classes })
}

/// The labels in `path`, one byte 1..10 per image of `images`, made 0-based.
fn labels(path: &Path, images: &RecordFile) -> Result<Vec<u8>, String> {
    let file = RecordFile::open(path, 1, HOLDS, "STL-10 label: 1 byte")?;
    if file.len() != images.len() {
        return Err(format!(
            "{} holds {} labels but {} holds {} images",
            path.display(),
            file.len(),
            images.path.display(),
            images.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    match bytes.iter().position(|&b| !(1..=10).contains(&b)) {
        Some(i) => Err(format!(
            "{}, record {i}: label {} is outside 1..10 (not an STL-10 label file?)",
            path.display(),
            bytes[i]
        )),
        None => Ok(bytes.iter().map(|&b| b - 1).collect()),
    }
}

impl Stl10Images {
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// "{file}#{record}" of image `i`.
    pub fn name(&self, i: usize) -> String {
        self.images.name(i)
    }

    /// Image `i` (96x96), read from its file and transposed to row-major.
    pub fn image(&self, i: usize) -> Result<RgbImage, String> {
        // [3, 96, 96]: planes R, G, B, each column-major (byte x * 96 + y is pixel (x, y))
        let mut rec = vec![0u8; RECORD];
        self.images.read(i, &mut rec)?;
        Ok(RgbImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
            let p = x as usize * SIDE + y as usize;
            image::Rgb([rec[p], rec[PLANE + p], rec[2 * PLANE + p]])
        }))
    }
}

/// Test helpers: STL-10 images with known pixels.
#[cfg(test)]
pub(crate) mod fixture {
    use super::{PLANE, SIDE};

    /// Channel `c` of pixel (x, y) of image `seed`: (x, y) and (y, x) differ.
    pub(crate) fn pixel(seed: usize, c: usize, x: usize, y: usize) -> u8 {
        (seed * 29 + c * 80 + x * 5 + y * 2) as u8
    }

    /// One image in the published layout: planes R, G, B, each column-major.
    pub(crate) fn record(seed: usize) -> Vec<u8> {
        let mut r = Vec::with_capacity(3 * PLANE);
        for c in 0..3 {
            r.extend((0..PLANE).map(|p| pixel(seed, c, p / SIDE, p % SIDE)));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{pixel, record};
    use super::*;
    use crate::data::records::TempDir;

    fn stl_folder(t: &TempDir) {
        t.write("train_X.bin", &[record(0), record(1)].concat());
        t.write("train_y.bin", &[1, 10]);
        t.write("test_X.bin", &record(2));
        t.write("test_y.bin", &[4]);
        t.write("unlabeled_X.bin", &[record(3), record(4), record(5)].concat());
    }

    #[test]
    fn images_are_transposed_to_row_major() {
        let t = TempDir::new("stl10");
        stl_folder(&t);
        let train = open(&t.0, Split::Train, false).unwrap();
        assert_eq!(train.len(), 2);
        assert_eq!(train.labels, Some(vec![0, 9]));
        assert_eq!(train.classes, STL10_CLASSES.to_vec());
        let img = train.image(1).unwrap();
        assert_eq!(img.dimensions(), (96, 96));
        for (x, y) in [(0, 0), (10, 3), (3, 10), (95, 0), (0, 95), (95, 95)] {
            let want = [pixel(1, 0, x, y), pixel(1, 1, x, y), pixel(1, 2, x, y)];
            assert_eq!(img.get_pixel(x as u32, y as u32).0, want, "pixel ({x}, {y})");
        }
        // The image is not symmetric, so reading it without the transposition would fail.
        assert_ne!(img.get_pixel(10, 3), img.get_pixel(3, 10));
        // Byte x * 96 + y of the red plane is pixel (x, y).
        assert_eq!(img.get_pixel(10, 3).0[0], record(1)[10 * 96 + 3]);
        assert_eq!(train.name(1), format!("{}#1", t.0.join("train_X.bin").display()));

        let test = open(&t.0, Split::Test, false).unwrap();
        assert_eq!((test.len(), test.labels.clone()), (1, Some(vec![3])));
        assert_eq!(
            test.image(0).unwrap().get_pixel(7, 50).0,
            [pixel(2, 0, 7, 50), pixel(2, 1, 7, 50), pixel(2, 2, 7, 50)]
        );

        let unlabeled = open(&t.0, Split::Train, true).unwrap();
        assert_eq!((unlabeled.len(), unlabeled.labels.clone()), (3, None));
        assert_eq!(unlabeled.image(2).unwrap().get_pixel(60, 1).0[2], pixel(5, 2, 60, 1));
        // The unlabeled variant's test split is the labelled test set.
        assert_eq!(open(&t.0, Split::Test, true).unwrap().labels, Some(vec![3]));

        let names: Vec<String> = (0..10).map(|c| format!("stl{c}")).collect();
        t.write("class_names.txt", format!("{}\n", names.join("\n")).as_bytes());
        assert_eq!(open(&t.0, Split::Test, false).unwrap().classes, names);
    }

    #[test]
    fn label_count_range_and_size_errors_are_named() {
        let t = TempDir::new("stl10-errors");
        stl_folder(&t);
        t.write("train_y.bin", &[1, 2, 3]);
        let e = open(&t.0, Split::Train, false).unwrap_err();
        assert!(e.contains("train_y.bin holds 3 labels but") && e.contains("train_X.bin holds 2 images"), "{e}");
        t.write("train_y.bin", &[1, 11]);
        let e = open(&t.0, Split::Train, false).unwrap_err();
        assert!(e.contains("train_y.bin, record 1: label 11 is outside 1..10"), "{e}");
        t.write("train_y.bin", &[0, 1]);
        let e = open(&t.0, Split::Train, false).unwrap_err();
        assert!(e.contains("train_y.bin, record 0: label 0"), "{e}");

        let mut cut = record(0);
        cut.truncate(1000);
        t.write("test_X.bin", &cut);
        let e = open(&t.0, Split::Test, false).unwrap_err();
        assert!(e.contains("test_X.bin: 1000 bytes") && e.contains("27648-byte records"), "{e}");

        std::fs::remove_file(t.0.join("test_y.bin")).unwrap();
        t.write("test_X.bin", &record(0));
        let e = open(&t.0, Split::Test, false).unwrap_err();
        assert!(e.contains("test_y.bin: not found") && e.contains("holds train_X.bin"), "{e}");
        let e = open(&t.0.join("nowhere"), Split::Test, false).unwrap_err();
        assert!(e.contains("nowhere: no such folder") && e.contains("stl10_binary"), "{e}");
    }
}
