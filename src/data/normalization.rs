//! Per-channel image normalisation (mean, std), stored with every checkpoint.

/// Per-channel normalisation applied to images before the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    pub const IMAGENET: Normalization = Normalization { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/// The normalisation for a data source: ImageNet's for photos; Fashion-MNIST's own
/// statistics for it (grey images replicated to RGB).
pub fn normalization_for(data: &str) -> Normalization {
    if data == "embedded" || data.contains("fashion") || data.contains("idx") {
        Normalization { mean: [0.286; 3], std: [0.353; 3] }
    } else {
        Normalization::IMAGENET
    }
}
