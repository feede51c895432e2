//! What a training session trains on and shows: the embedded Fashion-MNIST subset (its train
//! split; its test split for k-NN and the pictures), or images handed over in memory (a web
//! page's own: their training part, and when labelled a held-out part, about a fifth of each
//! class, for k-NN and the pictures). Checked against the settings before any device opens.

use super::monitor::KnnMonitor;
use crate::data::dataset::{Dataset, Split};
use crate::data::in_memory::LabelledImages;
use crate::data::normalization::Normalization;
use crate::error::{Error, Result};
use crate::spec::config::ModelConfig;
use serde::Serialize;

/// `data` of the settings of a session on images handed over in memory (normalised with
/// ImageNet's statistics, `normalization_for`, which the teacher's backbone file records).
pub const OWN_IMAGES: &str = "images";

/// The images a session is given.
pub enum SessionImages {
    /// The embedded subset: settings with `data = "embedded"`.
    Embedded,
    /// Images in memory (`LabelledImages::new`): settings with `data = "images"`.
    Own(LabelledImages),
}

/// What `SessionSets::sizes` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetSizes {
    /// Images the steps sample.
    pub train: usize,
    /// Images held out for k-NN (images handed over with labels; 0 otherwise).
    pub held_out: usize,
    /// The classes of images handed over with labels (empty otherwise).
    pub classes: Vec<String>,
}

/// The datasets of a session: what its steps sample, and what it evaluates and shows.
pub struct SessionSets {
    /// What the steps sample.
    pub train: Dataset,
    own: Option<OwnSplit>,
}

struct OwnSplit {
    all: LabelledImages,
    train: LabelledImages,
    held_out: Option<LabelledImages>,
}

impl SessionSets {
    /// The sets of `images` for settings whose `data` is `data` and batch `batch`, or an error
    /// naming the mismatch (data and images, too few images for the batch).
    pub fn of(data: &str, images: SessionImages, batch: usize) -> Result<Self> {
        let own = match (data, images) {
            ("embedded", SessionImages::Embedded) => None,
            (OWN_IMAGES, SessionImages::Own(all)) => {
                let (train, held_out) = all.split().map_err(Error::Data)?;
                Some(OwnSplit { all, train, held_out })
            }
            (OWN_IMAGES, SessionImages::Embedded) => {
                return Err(Error::Data(format!(
                    "settings: data `{OWN_IMAGES}` trains on images handed over in memory, and none were: \
                     give them (`Trainer::open_with`, the page's `train_on_images`) or use data `embedded`"
                )))
            }
            ("embedded", SessionImages::Own(_)) => {
                return Err(Error::Data(format!(
                    "settings: data `embedded` with images handed over: set data to `{OWN_IMAGES}` to train on them"
                )))
            }
            (other, _) => {
                return Err(Error::Data(format!(
                    "settings: data `{other}`: a browser has no files; only `embedded` (the Fashion-MNIST subset) \
                     and `{OWN_IMAGES}` (images handed over in memory) run here"
                )))
            }
        };
        let train = match &own {
            None => Dataset::embedded(Split::Train).map_err(Error::Data)?,
            Some(o) => Dataset::in_memory(Self::TRAIN_PART, o.train.clone()),
        };
        if train.len() < batch {
            let held = own.as_ref().and_then(|o| o.held_out.as_ref()).map_or(0, |h| h.pixels.len());
            let held = match held {
                0 => String::new(),
                n => format!(" ({n} more are held out to evaluate k-NN)"),
            };
            return Err(Error::Data(format!(
                "settings: batch {batch} exceeds the {} training images of {}{held}: add images or lower `batch`",
                train.len(),
                train.origin
            )));
        }
        Ok(Self { train, own })
    }

    const TRAIN_PART: &str = "your images (training part)";
    const HELD_OUT: &str = "your images (held out)";
    const ALL: &str = "your images";

    /// Whether the session trains on images handed over in memory.
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }

    /// Whether k-NN can run: the embedded subset, or images handed over with labels.
    pub fn labelled(&self) -> bool {
        self.own.as_ref().is_none_or(|o| o.held_out.is_some())
    }

    /// How many images train and how many are held out, and the classes of images handed over.
    pub fn sizes(&self) -> SetSizes {
        let held_out = self.own.as_ref().and_then(|o| o.held_out.as_ref()).map_or(0, |h| h.pixels.len());
        let classes = self.own.as_ref().map_or_else(Vec::new, |o| o.all.classes.clone());
        SetSizes { train: self.train.len(), held_out, classes }
    }

    /// k-NN with a bank of `bank` training images and the held-out (or embedded test) images as
    /// queries; an error when the images came without labels.
    pub fn knn_monitor(&self, bank: usize, model: &ModelConfig, norm: &Normalization) -> Result<KnnMonitor> {
        match &self.own {
            None => KnnMonitor::open("embedded", bank, model, norm, "knn_bank 0"),
            Some(OwnSplit { train, held_out: Some(held), .. }) => {
                let train = Dataset::in_memory(Self::TRAIN_PART, train.clone());
                KnnMonitor::of_splits(train, Dataset::in_memory(Self::HELD_OUT, held.clone()), bank, model, norm)
            }
            Some(_) => Err(Error::Data(
                "k-NN needs labels and the images came without: put them in one sub-folder per class, or set \
                 knn_bank to 0"
                    .into(),
            )),
        }
    }

    /// The images the attention maps show: the embedded test split, the held-out images, or
    /// every image when there are no labels.
    pub fn shown(&self) -> Result<Dataset> {
        Ok(match &self.own {
            None => Dataset::embedded(Split::Test).map_err(Error::Data)?,
            Some(OwnSplit { held_out: Some(held), .. }) => Dataset::in_memory(Self::HELD_OUT, held.clone()),
            Some(o) => Dataset::in_memory(Self::ALL, o.all.clone()),
        })
    }

    /// The images of the 2-D feature map: every image handed over, or the embedded test split.
    pub fn mapped(&self) -> Result<Dataset> {
        match &self.own {
            None => Dataset::embedded(Split::Test).map_err(Error::Data),
            Some(o) => Ok(Dataset::in_memory(Self::ALL, o.all.clone())),
        }
    }
}
