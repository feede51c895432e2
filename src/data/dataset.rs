//! Datasets: image folders (labels from first-level sub-folders), IDX files, and the
//! embedded Fashion-MNIST subset. Images are decoded on demand to RGB8.

use super::idx::{self, IdxImages};
use super::image_io::{is_image_path, load_rgb};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// Where Debian's dataset-fashion-mnist puts its files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

static EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
static EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
static EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
static EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

enum Source {
    Files(Vec<PathBuf>),
    Idx(IdxImages),
}

pub struct Dataset {
    /// What the user named (for messages).
    pub origin: String,
    source: Source,
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
}

/// Which split of a dataset that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Dataset {
    pub fn len(&self) -> usize {
        match &self.source {
            Source::Files(f) => f.len(),
            Source::Idx(d) => d.len(),
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
        }
    }

    /// A name for image `i` (path or index).
    pub fn name(&self, i: usize) -> String {
        match &self.source {
            Source::Files(f) => f[i].display().to_string(),
            Source::Idx(_) => format!("{}#{i}", self.origin),
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

    /// `spec` is `embedded`, `fashion-mnist` (Debian's package), an IDX image file, or a
    /// folder of images (class sub-folders give labels).
    pub fn open(spec: &str, split: Split) -> Result<Self, String> {
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
                    return Err(format!("--data {path}: no such file or folder"));
                }
                if p.is_file() {
                    return Ok(Self::from_idx(path.to_string(), idx::load(p)?));
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
