//! Datasets: image folders (labels from first-level sub-folders), IDX files, the CIFAR-10,
//! CIFAR-100 and STL-10 binaries, the embedded Fashion-MNIST subset, and images handed over in
//! memory (a web page's). Images are decoded on demand to RGB8.

use super::cifar::{self, Cifar, CifarImages};
use super::idx::{self, IdxImages};
use super::image_io::{is_image_path, load_rgb};
use super::in_memory::{LabelledImages, PixelImages};
use super::stl10::{self, Stl10Images};
pub use super::Split;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// Where Debian's dataset-fashion-mnist puts its files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

static EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
static EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
static EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
static EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// What `--data` accepts, for messages.
pub const DATA_FORMATS: &str = "`embedded`, `fashion-mnist`, an IDX image file, an image folder, \
`cifar10:DIR`, `cifar100:DIR`, `stl10:DIR`, `stl10-unlabeled:DIR`";

pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

enum Source {
    Files(Vec<PathBuf>),
    Idx(IdxImages),
    Cifar(CifarImages),
    Stl10(Stl10Images),
    Pixels(PixelImages),
}

pub struct Dataset {
    /// What the user named (for messages).
    pub origin: String,
    source: Source,
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Files(f) => f.len(),
            Source::Idx(d) => d.len(),
            Source::Cifar(d) => d.len(),
            Source::Stl10(d) => d.len(),
            Source::Pixels(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `i` as RGB8, or an error naming it.
    pub fn image(&self, i: usize) -> Result<RgbImage, String> {
        match &self.source {
            Source::Files(f) => load_rgb(&f[i]),
            Source::Idx(d) => {
                let g = d.image(i);
                Ok(RgbImage::from_fn(d.cols as u32, d.rows as u32, |x, y| {
                    let v = g[y as usize * d.cols + x as usize];
                    image::Rgb([v, v, v])
                }))
            }
            Source::Cifar(d) => d.image(i),
            Source::Stl10(d) => d.image(i),
            Source::Pixels(d) => Ok(d.image(i)),
        }
    }

    /// A name for image `i` (path, `{file}#{record}` or index).
    pub fn name(&self, i: usize) -> String {
        match &self.source {
            Source::Files(f) => f[i].display().to_string(),
            Source::Idx(_) => format!("{}#{i}", self.origin),
            Source::Cifar(d) => d.name(i),
            Source::Stl10(d) => d.name(i),
            Source::Pixels(_) => format!("{} #{i}", self.origin),
        }
    }

    fn from_idx(origin: String, d: IdxImages) -> Self {
        let labels = d.labels.as_ref().map(|l| l.iter().map(|&x| x as usize).collect::<Vec<_>>());
        let n_classes = labels.as_ref().map_or(0, |l| l.iter().max().map_or(0, |m| m + 1));
        let classes = if n_classes <= 10 && origin.contains("fashion") {
            FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
        } else {
            (0..n_classes).map(|c| c.to_string()).collect()
        };
        Self { origin, source: Source::Idx(d), labels, classes }
    }

    /// The embedded Fashion-MNIST subset (2,000 train / 500 test images).
    pub fn embedded(split: Split) -> Result<Self, String> {
        let (i, l) = match split {
            Split::Train => (EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS),
            Split::Test => (EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS),
        };
        let name = format!("embedded fashion-mnist subset ({})", if split == Split::Train { "train" } else { "test" });
        Ok(Self::from_idx(name, idx::parse(i.to_vec(), Some(l.to_vec()))?))
    }

    /// Images handed over in memory; `origin` names them in messages.
    pub fn in_memory(origin: &str, images: LabelledImages) -> Self {
        let LabelledImages { pixels, labels, classes } = images;
        Self { origin: origin.to_string(), source: Source::Pixels(pixels), labels, classes }
    }

    fn from_cifar(kind: Cifar, dir: &Path, split: Split) -> Result<Self, String> {
        let d = cifar::open(kind, dir, split)?;
        let origin = format!("{}:{} ({})", kind.spec(), d.dir.display(), split_name(split));
        let labels = Some(d.labels.iter().map(|&l| l as usize).collect());
        Ok(Self { origin, labels, classes: d.classes.clone(), source: Source::Cifar(d) })
    }

    /// STL-10; with `unlabeled` the train split is `unlabeled_X.bin` (no labels).
    fn from_stl10(dir: &Path, split: Split, unlabeled: bool) -> Result<Self, String> {
        let d = stl10::open(dir, split, unlabeled)?;
        let spec = if unlabeled { "stl10-unlabeled" } else { "stl10" };
        let origin = format!("{spec}:{} ({})", d.dir.display(), split_name(split));
        let labels = d.labels.as_ref().map(|l| l.iter().map(|&x| x as usize).collect());
        Ok(Self { origin, labels, classes: d.classes.clone(), source: Source::Stl10(d) })
    }

    /// `spec` is `embedded`, `fashion-mnist` (Debian's package), an IDX image file, a
    /// folder of images (class sub-folders give labels), `cifar10:DIR`, `cifar100:DIR`,
    /// `stl10:DIR` or `stl10-unlabeled:DIR`. A folder holding CIFAR or STL-10 binaries is
    /// recognised by its file names.
    pub fn open(spec: &str, split: Split) -> Result<Self, String> {
        if let Some((kind, dir)) = spec.split_once(':') {
            let binary = |f: fn(&Path, Split) -> Result<Self, String>| {
                if dir.is_empty() {
                    Err(format!("--data {spec}: give the folder after the colon, as in {kind}:DIR"))
                } else {
                    f(Path::new(dir), split)
                }
            };
            match kind {
                "cifar10" => return binary(|d, s| Self::from_cifar(Cifar::Ten, d, s)),
                "cifar100" => return binary(|d, s| Self::from_cifar(Cifar::Hundred, d, s)),
                "stl10" => return binary(|d, s| Self::from_stl10(d, s, false)),
                "stl10-unlabeled" => return binary(|d, s| Self::from_stl10(d, s, true)),
                _ => {}
            }
        }
        match spec {
            "embedded" | "" => Self::embedded(split),
            "fashion-mnist" => {
                let base = Path::new(DEBIAN_FASHION_MNIST);
                let stem = if split == Split::Train { "train" } else { "t10k" };
                let file = base.join(format!("{stem}-images-idx3-ubyte.gz"));
                if !file.exists() {
                    return Err(format!(
                        "{} not found: install Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`) or give --data PATH",
                        file.display()
                    ));
                }
                Ok(Self::from_idx(format!("fashion-mnist ({stem})"), idx::load(&file)?))
            }
            path => {
                let p = Path::new(path);
                if !p.exists() {
                    if ["cifar10", "cifar100", "stl10", "stl10-unlabeled"].contains(&path) {
                        return Err(format!(
                            "--data {path}: no such file or folder; {path} needs its folder, as in {path}:DIR (accepted: {DATA_FORMATS})"
                        ));
                    }
                    return Err(format!("--data {path}: no such file or folder (accepted: {DATA_FORMATS})"));
                }
                if p.is_file() {
                    return Ok(Self::from_idx(path.to_string(), idx::load(p)?));
                }
                if p.join("data_batch_1.bin").is_file() {
                    return Self::from_cifar(Cifar::Ten, p, split);
                }
                if p.join("train.bin").is_file() && p.join("test.bin").is_file() {
                    return Self::from_cifar(Cifar::Hundred, p, split);
                }
                if p.join("train_X.bin").is_file() {
                    return Self::from_stl10(p, split, false);
                }
                Self::folder(p, split)
            }
        }
    }

    /// A folder of images; with `train`/`val`/`test` sub-folders the split picks one.
    fn folder(dir: &Path, split: Split) -> Result<Self, String> {
        let names: &[&str] = if split == Split::Train { &["train"] } else { &["val", "test"] };
        let root = names.iter().map(|n| dir.join(n)).find(|p| p.is_dir()).unwrap_or_else(|| dir.to_path_buf());
        let files = super::image_io::list_images(&root)?;
        // Labels from first-level sub-folders, when every image is in one.
        let class_of = |f: &Path| -> Option<String> {
            let rel = f.strip_prefix(&root).ok()?;
            let mut comps = rel.components();
            let first = comps.next()?;
            comps.next()?;
            Some(first.as_os_str().to_string_lossy().to_string())
        };
        let class_names: Option<Vec<String>> = files.iter().map(|f| class_of(f)).collect();
        let (labels, classes) = match class_names {
            Some(names) => {
                let mut classes: Vec<String> = names.clone();
                classes.sort();
                classes.dedup();
                let labels = names.iter().map(|n| classes.binary_search(n).unwrap_or(0)).collect();
                (Some(labels), classes)
            }
            None => (None, Vec::new()),
        };
        let files: Vec<PathBuf> = files.into_iter().filter(|f| is_image_path(f)).collect();
        Ok(Self { origin: root.display().to_string(), source: Source::Files(files), labels, classes })
    }
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar::fixture as cifar_px;
    use crate::data::records::TempDir;
    use crate::data::stl10::fixture as stl_px;

    #[test]
    fn dataset_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Dataset>();
    }

    #[test]
    fn binary_specs_open_cifar_and_stl10() {
        let t = TempDir::new("dataset-specs");
        let c10 = t.0.join("c10");
        std::fs::create_dir(&c10).unwrap();
        t.write("c10/data_batch_1.bin", &[cifar_px::record(&[2], 0), cifar_px::record(&[5], 1)].concat());
        t.write("c10/test_batch.bin", &cifar_px::record(&[8], 2));
        let spec = format!("cifar10:{}", c10.display());
        let train = Dataset::open(&spec, Split::Train).unwrap();
        assert_eq!((train.len(), train.labels.clone()), (2, Some(vec![2, 5])));
        assert_eq!(train.classes[5], "dog");
        assert_eq!(train.origin, format!("cifar10:{} (train)", c10.display()));
        assert_eq!(train.name(1), format!("{}#1", c10.join("data_batch_1.bin").display()));
        let px = train.image(1).unwrap();
        assert_eq!(
            px.get_pixel(9, 4).0,
            [cifar_px::pixel(1, 0, 9, 4), cifar_px::pixel(1, 1, 9, 4), cifar_px::pixel(1, 2, 9, 4)]
        );
        let test = Dataset::open(&spec, Split::Test).unwrap();
        assert_eq!((test.len(), test.labels.clone()), (1, Some(vec![8])));
        assert_ne!(train.origin, test.origin);

        let stl = t.0.join("stl");
        std::fs::create_dir(&stl).unwrap();
        t.write("stl/train_X.bin", &stl_px::record(0));
        t.write("stl/train_y.bin", &[3]);
        t.write("stl/test_X.bin", &[stl_px::record(1), stl_px::record(2)].concat());
        t.write("stl/test_y.bin", &[10, 1]);
        t.write("stl/unlabeled_X.bin", &[stl_px::record(3), stl_px::record(4)].concat());
        let s = Dataset::open(&format!("stl10:{}", stl.display()), Split::Train).unwrap();
        assert_eq!((s.len(), s.labels.clone(), s.classes[2].as_str()), (1, Some(vec![2]), "car"));
        assert_eq!(s.image(0).unwrap().get_pixel(40, 2).0[1], stl_px::pixel(0, 1, 40, 2));
        let u = format!("stl10-unlabeled:{}", stl.display());
        let un = Dataset::open(&u, Split::Train).unwrap();
        assert_eq!((un.len(), un.labels.clone()), (2, None));
        assert_eq!(un.name(1), format!("{}#1", stl.join("unlabeled_X.bin").display()));
        let ut = Dataset::open(&u, Split::Test).unwrap();
        assert_eq!((ut.len(), ut.labels.clone()), (2, Some(vec![9, 0])));

        let c100 = t.0.join("c100");
        std::fs::create_dir(&c100).unwrap();
        t.write("c100/train.bin", &cifar_px::record(&[1, 64], 0));
        t.write("c100/test.bin", &cifar_px::record(&[1, 65], 1));
        let d = Dataset::open(&format!("cifar100:{}", c100.display()), Split::Test).unwrap();
        assert_eq!((d.labels.clone(), d.classes.len()), (Some(vec![65]), 100));

        // A plain folder is recognised by its file names.
        let by_name = |p: &Path, split| Dataset::open(&p.display().to_string(), split).unwrap();
        let d = by_name(&c10, Split::Train);
        assert_eq!((d.len(), d.labels.clone(), d.origin.starts_with("cifar10:")), (2, Some(vec![2, 5]), true));
        let d = by_name(&c100, Split::Train);
        assert_eq!((d.labels.clone(), d.origin.starts_with("cifar100:")), (Some(vec![64]), true));
        let d = by_name(&stl, Split::Test);
        assert_eq!((d.len(), d.labels.clone(), d.origin.starts_with("stl10:")), (2, Some(vec![9, 0]), true));
    }

    #[test]
    fn unknown_specs_list_the_accepted_formats() {
        let formats = [
            "`embedded`",
            "`fashion-mnist`",
            "IDX",
            "image folder",
            "`cifar10:DIR`",
            "`cifar100:DIR`",
            "`stl10:DIR`",
            "`stl10-unlabeled:DIR`",
        ];
        let missing = std::env::temp_dir().join(format!("adclr-no-such-data-{}", std::process::id()));
        for spec in [missing.display().to_string(), "cifar10".into(), "mnist:whatever".into()] {
            let e = Dataset::open(&spec, Split::Train).err().unwrap();
            assert!(e.starts_with(&format!("--data {spec}: no such file or folder")), "{e}");
            for f in formats {
                assert!(e.contains(f), "{spec}: {e} lacks {f}");
            }
        }
        let e = Dataset::open("cifar10", Split::Train).err().unwrap();
        assert!(e.contains("cifar10 needs its folder, as in cifar10:DIR"), "{e}");
        let e = Dataset::open("stl10-unlabeled:", Split::Train).err().unwrap();
        assert_eq!(e, "--data stl10-unlabeled:: give the folder after the colon, as in stl10-unlabeled:DIR");
        let e = Dataset::open(&format!("cifar100:{}", missing.display()), Split::Train).err().unwrap();
        assert!(e.starts_with(&format!("{}: no such folder; a CIFAR-100 binary folder", missing.display())), "{e}");
    }
}
