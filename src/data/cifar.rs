//! CIFAR-10 and CIFAR-100, binary versions: each record is the label byte(s) and 3072
//! pixel bytes (1024 R, then 1024 G, then 1024 B, each plane 32x32 row-major). Images are
//! read on demand; the labels are read once when the folder is opened.

use super::records::{self, RecordFile};
use super::Split;
use image::RgbImage;
use std::path::{Path, PathBuf};

pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Image side in pixels.
const SIDE: usize = 32;
/// Bytes of one colour plane.
const PLANE: usize = SIDE * SIDE;
/// The train batches of CIFAR-10.
const CIFAR10_BATCHES: usize = 5;

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes, label byte 0..9.
    Ten,
    /// 100 fine classes: coarse label byte (0..19), then fine label byte (0..99).
    Hundred,
}

impl Cifar {
    /// Label bytes before the pixels.
    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    fn record_size(self) -> usize {
        self.label_bytes() + 3 * PLANE
    }

    pub fn n_classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// The spec prefix (`cifar10`, `cifar100`).
    pub fn spec(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar10",
            Cifar::Hundred => "cifar100",
        }
    }

    /// The folder the archive unpacks to.
    fn folder(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-batches-bin",
            Cifar::Hundred => "cifar-100-binary",
        }
    }

    /// What the folder should hold, for messages.
    fn holds(self) -> &'static str {
        match self {
            Cifar::Ten => {
                "a CIFAR-10 binary folder (cifar-10-batches-bin/) holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin"
            }
            Cifar::Hundred => "a CIFAR-100 binary folder (cifar-100-binary/) holds train.bin and test.bin",
        }
    }

    fn layout(self) -> &'static str {
        match self {
            Cifar::Ten => "CIFAR-10 record: 1 label byte + 3072 pixel bytes",
            Cifar::Hundred => "CIFAR-100 record: coarse and fine label bytes + 3072 pixel bytes",
        }
    }

    /// The file whose presence marks the folder.
    fn marker(self) -> &'static str {
        match self {
            Cifar::Ten => "data_batch_1.bin",
            Cifar::Hundred => "train.bin",
        }
    }

    /// The record files of `split` in `dir`. CIFAR-10's train split is `data_batch_1.bin`
    /// and those of `data_batch_2.bin` .. `data_batch_5.bin` that follow it without a gap.
    fn files(self, dir: &Path, split: Split) -> Result<Vec<PathBuf>, String> {
        match (self, split) {
            (Cifar::Ten, Split::Train) => {
                let batch = |k: usize| dir.join(format!("data_batch_{k}.bin"));
                let present = (1..=CIFAR10_BATCHES).take_while(|&k| batch(k).exists()).count();
                if present == 0 {
                    return Err(format!("{}: not found; {}", batch(1).display(), self.holds()));
                }
                if let Some(later) = (present + 2..=CIFAR10_BATCHES).find(|&k| batch(k).exists()) {
                    return Err(format!(
                        "{}: not found, but {} is; {}",
                        batch(present + 1).display(),
                        batch(later).display(),
                        self.holds()
                    ));
                }
                Ok((1..=present).map(batch).collect())
            }
            (Cifar::Ten, Split::Test) => Ok(vec![dir.join("test_batch.bin")]),
            (Cifar::Hundred, Split::Train) => Ok(vec![dir.join("train.bin")]),
            (Cifar::Hundred, Split::Test) => Ok(vec![dir.join("test.bin")]),
        }
    }

    /// Class names: `batches.meta.txt` / `fine_label_names.txt` when present, else the
    /// published CIFAR-10 names / the class indices.
    fn classes(self, dir: &Path) -> Result<Vec<String>, String> {
        let (file, fallback): (&str, Vec<String>) = match self {
            Cifar::Ten => ("batches.meta.txt", CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()),
            Cifar::Hundred => ("fine_label_names.txt", (0..100).map(|c| c.to_string()).collect()),
        };
        Ok(records::class_names(&dir.join(file), self.n_classes())?.unwrap_or(fallback))
    }
}

/// A split of CIFAR-10 or CIFAR-100: its record files and their labels.
#[derive(Debug)]
pub struct CifarImages {
    pub kind: Cifar,
    /// The folder the files are in.
    pub dir: PathBuf,
    files: Vec<RecordFile>,
    /// The index of the first image of each file, [files.len()].
    starts: Vec<usize>,
    /// [n] (fine labels for CIFAR-100)
    pub labels: Vec<u8>,
    /// [n_classes]
    pub classes: Vec<String>,
}

/// Opens `split` of the CIFAR folder `dir` (or of `dir/cifar-10-batches-bin/`,
/// `dir/cifar-100-binary/`): checks every file's size and reads the labels.
pub fn open(kind: Cifar, dir: &Path, split: Split) -> Result<CifarImages, String> {
    records::require_folder(dir, kind.holds())?;
    let dir = records::descend(dir, kind.folder(), kind.marker());
    let mut files = Vec::new();
    let mut starts = Vec::new();
    let mut labels = Vec::new();
    for path in kind.files(&dir, split)? {
        let f = RecordFile::open(&path, kind.record_size(), kind.holds(), kind.layout())?;
        starts.push(labels.len());
        labels.reserve(f.len());
        f.scan(|i, r| {
            let fine = r[kind.label_bytes() - 1];
            let coarse_ok = kind == Cifar::Ten || r[0] < 20;
            if (fine as usize) < kind.n_classes() && coarse_ok {
                labels.push(fine);
                Ok(())
            } else {
                Err(format!(
                    "{}, record {i}: label bytes {:?} out of range ({}; not a {} file?)",
                    path.display(),
                    &r[..kind.label_bytes()],
                    kind.layout(),
                    kind.spec()
                ))
            }
        })?;
        files.push(f);
    }
    let classes = kind.classes(&dir)?;
    Ok(CifarImages { kind, dir, files, starts, labels, classes })
}

impl CifarImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The file and the record in it of image `i`.
    fn locate(&self, i: usize) -> (&RecordFile, usize) {
        let f = self.starts.partition_point(|&s| s <= i).saturating_sub(1);
        (&self.files[f], i - self.starts[f])
    }

    /// "{file}#{record}" of image `i`.
    pub fn name(&self, i: usize) -> String {
        let (f, r) = self.locate(i);
        f.name(r)
    }

    /// Image `i` (32x32), read from its file.
    pub fn image(&self, i: usize) -> Result<RgbImage, String> {
        let (f, r) = self.locate(i);
        // [label bytes + 3 * 32 * 32]: planes R, G, B, each [32, 32] row-major
        let mut rec = vec![0u8; f.record_size];
        f.read(r, &mut rec)?;
        let px = &rec[self.kind.label_bytes()..];
        Ok(RgbImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
            let p = y as usize * SIDE + x as usize;
            image::Rgb([px[p], px[PLANE + p], px[2 * PLANE + p]])
        }))
    }
}

/// Test helpers: CIFAR records with known pixels.
#[cfg(test)]
pub(crate) mod fixture {
    use super::PLANE;

    /// Channel `c` of pixel (x, y) of image `seed`: differs between x and y, channels and images.
    pub(crate) fn pixel(seed: usize, c: usize, x: usize, y: usize) -> u8 {
        (seed * 31 + c * 70 + y * 7 + x * 3) as u8
    }

    /// One record: `labels` then the planes of image `seed`.
    pub(crate) fn record(labels: &[u8], seed: usize) -> Vec<u8> {
        let mut r = labels.to_vec();
        for c in 0..3 {
            r.extend((0..PLANE).map(|p| pixel(seed, c, p % 32, p / 32)));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{pixel, record};
    use super::*;
    use crate::data::records::TempDir;

    /// Two train batches (2 + 1 records) and a test batch (1 record).
    fn cifar10_folder(t: &TempDir) {
        t.write("data_batch_1.bin", &[record(&[3], 0), record(&[9], 1)].concat());
        t.write("data_batch_2.bin", &record(&[0], 2));
        t.write("test_batch.bin", &record(&[7], 3));
    }

    #[test]
    fn cifar10_pixels_labels_and_class_names() {
        let t = TempDir::new("cifar10");
        cifar10_folder(&t);
        let train = open(Cifar::Ten, &t.0, Split::Train).unwrap();
        assert_eq!(train.len(), 3);
        assert_eq!(train.labels, vec![3, 9, 0]);
        assert_eq!(train.classes, CIFAR10_CLASSES.to_vec());
        for (i, seed) in [(0, 0), (1, 1), (2, 2)] {
            let img = train.image(i).unwrap();
            assert_eq!(img.dimensions(), (32, 32));
            for (x, y) in [(0, 0), (5, 2), (2, 5), (31, 0), (0, 31), (31, 31)] {
                let want = [pixel(seed, 0, x, y), pixel(seed, 1, x, y), pixel(seed, 2, x, y)];
                assert_eq!(img.get_pixel(x as u32, y as u32).0, want, "image {i} pixel ({x}, {y})");
            }
        }
        // (5, 2) and (2, 5) differ, so a transposed read would fail above.
        assert_ne!(pixel(0, 0, 5, 2), pixel(0, 0, 2, 5));
        assert_eq!(train.name(2), format!("{}#0", t.0.join("data_batch_2.bin").display()));
        assert_eq!(train.name(1), format!("{}#1", t.0.join("data_batch_1.bin").display()));

        let test = open(Cifar::Ten, &t.0, Split::Test).unwrap();
        assert_eq!(test.labels, vec![7]);
        assert_eq!(test.image(0).unwrap().get_pixel(4, 1).0, [pixel(3, 0, 4, 1), pixel(3, 1, 4, 1), pixel(3, 2, 4, 1)]);

        let names: Vec<String> = (0..10).map(|c| format!("class {c}")).collect();
        t.write("batches.meta.txt", format!("{}\n\n", names.join("\n")).as_bytes());
        assert_eq!(open(Cifar::Ten, &t.0, Split::Test).unwrap().classes, names);
        t.write("batches.meta.txt", b"one\ntwo\n");
        let e = open(Cifar::Ten, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("batches.meta.txt: 2 class names, expected 10"), "{e}");
    }

    #[test]
    fn cifar10_found_in_the_unpacked_sub_folder() {
        let t = TempDir::new("cifar10-parent");
        std::fs::create_dir(t.0.join("cifar-10-batches-bin")).unwrap();
        t.write("cifar-10-batches-bin/data_batch_1.bin", &record(&[4], 0));
        let d = open(Cifar::Ten, &t.0, Split::Train).unwrap();
        assert_eq!((d.len(), d.labels.clone()), (1, vec![4]));
        assert_eq!(d.dir, t.0.join("cifar-10-batches-bin"));
    }

    #[test]
    fn cifar100_fine_labels_and_names() {
        let t = TempDir::new("cifar100");
        t.write("train.bin", &[record(&[19, 99], 0), record(&[0, 42], 1)].concat());
        t.write("test.bin", &record(&[5, 7], 2));
        let train = open(Cifar::Hundred, &t.0, Split::Train).unwrap();
        assert_eq!(train.labels, vec![99, 42]);
        assert_eq!(train.classes.len(), 100);
        assert_eq!((train.classes[0].as_str(), train.classes[99].as_str()), ("0", "99"));
        assert_eq!(
            train.image(1).unwrap().get_pixel(7, 3).0,
            [pixel(1, 0, 7, 3), pixel(1, 1, 7, 3), pixel(1, 2, 7, 3)]
        );
        let names: Vec<String> = (0..100).map(|c| format!("fine{c}")).collect();
        t.write("fine_label_names.txt", names.join("\n").as_bytes());
        let test = open(Cifar::Hundred, &t.0, Split::Test).unwrap();
        assert_eq!(test.labels, vec![7]);
        assert_eq!(test.classes[7], "fine7");
    }

    #[test]
    fn missing_truncated_and_out_of_range_files_are_named() {
        let t = TempDir::new("cifar-errors");
        let e = open(Cifar::Ten, &t.0, Split::Train).unwrap_err();
        assert!(e.contains("data_batch_1.bin: not found") && e.contains("test_batch.bin"), "{e}");
        let e = open(Cifar::Hundred, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("test.bin: not found") && e.contains("holds train.bin and test.bin"), "{e}");
        let e = open(Cifar::Ten, &t.0.join("nowhere"), Split::Train).unwrap_err();
        assert!(e.contains("nowhere: no such folder") && e.contains("data_batch_1.bin"), "{e}");

        // data_batch_2 missing while data_batch_3 is there.
        t.write("data_batch_1.bin", &record(&[1], 0));
        t.write("data_batch_3.bin", &record(&[1], 0));
        let e = open(Cifar::Ten, &t.0, Split::Train).unwrap_err();
        assert!(e.contains("data_batch_2.bin: not found, but") && e.contains("data_batch_3.bin is"), "{e}");

        let mut cut = [record(&[1], 0), record(&[2], 1)].concat();
        cut.truncate(3073 + 100);
        t.write("test_batch.bin", &cut);
        let e = open(Cifar::Ten, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("test_batch.bin: 3173 bytes") && e.contains("3073-byte records"), "{e}");
        // A CIFAR-100 file read as CIFAR-10 (3074-byte records) is refused by its size too.
        t.write("test_batch.bin", &[record(&[1, 2], 0), record(&[1, 2], 1)].concat());
        let e = open(Cifar::Ten, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("6148 bytes") && e.contains("3073-byte"), "{e}");

        t.write("test_batch.bin", &[record(&[1], 0), record(&[10], 1)].concat());
        let e = open(Cifar::Ten, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("test_batch.bin, record 1: label bytes [10] out of range"), "{e}");
        t.write("test.bin", &[record(&[20, 3], 0)].concat());
        let e = open(Cifar::Hundred, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("test.bin, record 0: label bytes [20, 3] out of range"), "{e}");
        t.write("test.bin", &[record(&[2, 3], 0), record(&[2, 100], 1)].concat());
        let e = open(Cifar::Hundred, &t.0, Split::Test).unwrap_err();
        assert!(e.contains("test.bin, record 1: label bytes [2, 100] out of range"), "{e}");
    }
}
