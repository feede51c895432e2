//! `adclr-wgpu features`: the teacher's CLS features (after the final norm) of every image in
//! a folder, resized (shorter side) and centre-cropped to the model's size, written as
//! safetensors (`features` [n, D]) with the file order in a sidecar `<out>.names.txt`.

use crate::checkpoint;
use crate::data::image_io::{list_images, load_rgb, resize_center_crop};
use crate::data::patches::{normalize_chw, patchify};
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use crate::gpu::Engine;
use crate::model::encoder::Encoder;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `extract` writes: images per forward, whether the patch tokens too, the input side
/// (None: the model's).
pub struct What {
    pub batch: usize,
    pub patches: bool,
    pub side: Option<usize>,
}

pub struct FeatureReport {
    pub written: usize,
    /// The patch grid side of the `patches` tensor, when written.
    pub grid: Option<usize>,
    /// Files that could not be decoded, with the reason.
    pub skipped: Vec<String>,
    pub names_file: PathBuf,
}

pub fn names_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".names.txt");
    PathBuf::from(s)
}

pub fn extract(
    e: &Engine,
    checkpoint_path: &Path,
    images: &Path,
    out: &Path,
    what: &What,
    progress: impl Fn(usize, usize),
) -> Result<FeatureReport> {
    let (model, norm, weights) = checkpoint::load_backbone(checkpoint_path)?;
    let files = list_images(images).map_err(Error::Data)?;
    let s = what.side.unwrap_or(model.image_size);
    let encoder = Encoder::at_side(e, &model, what.batch.max(1), s, &weights)?;
    let p = model.patch_size;
    let mut features = Vec::with_capacity(files.len() * model.dim);
    // [n, N, D], with --patches
    let mut patch_tokens = Vec::new();
    let mut names = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    let mut pending: Vec<f32> = Vec::new();
    let mut in_batch = 0;
    for (i, f) in files.iter().enumerate() {
        match load_rgb(f) {
            Ok(img) => {
                let chw = normalize_chw(&resize_center_crop(&img, s), &norm);
                pending.extend(patchify(&chw, 3, s, p));
                names.push(f.strip_prefix(images).unwrap_or(f).display().to_string());
                in_batch += 1;
            }
            Err(msg) => skipped.push(msg),
        }
        if in_batch == encoder.batch || (i + 1 == files.len() && in_batch > 0) {
            if what.patches {
                let (cls, tokens) = encoder.encode_with_patches(e, &pending)?;
                features.extend(cls);
                patch_tokens.extend(tokens);
            } else {
                features.extend(encoder.encode(e, &pending)?);
            }
            pending.clear();
            in_batch = 0;
        }
        progress(i + 1, files.len());
    }
    if names.is_empty() {
        let why = skipped.first().map_or(String::new(), |s: &String| format!(" (the first: {s})"));
        return Err(Error::Data(format!(
            "{}: none of the {} image files could be read{why}",
            images.display(),
            files.len()
        )));
    }
    let out_err = |e: safetensors::SafeTensorError| Error::Output(format!("{}: {e}", out.display()));
    let bytes: Vec<u8> = features.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut tensors =
        vec![("features", TensorView::new(Dtype::F32, vec![names.len(), model.dim], &bytes).map_err(out_err)?)];
    let grid = what.patches.then(|| model.grid(s));
    let patch_bytes: Vec<u8> = patch_tokens.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut meta = HashMap::new();
    meta.insert("checkpoint".to_string(), checkpoint_path.display().to_string());
    meta.insert("images".to_string(), names.len().to_string());
    meta.insert("side".to_string(), s.to_string());
    meta.insert("feature".to_string(), "teacher CLS after the final norm".to_string());
    if let Some(g) = grid {
        let shape = vec![names.len(), g * g, model.dim];
        tensors.push(("patches", TensorView::new(Dtype::F32, shape, &patch_bytes).map_err(out_err)?));
        meta.insert("grid".to_string(), g.to_string());
        meta.insert("patches".to_string(), "teacher patch tokens after the final norm, row-major over the grid".into());
    }
    let data = safetensors::serialize(tensors, Some(meta)).map_err(out_err)?;
    // The features first: when they cannot be written, no names file is left behind.
    write_atomic(out, &data)?;
    let names_file = names_path(out);
    write_atomic(&names_file, (names.join("\n") + "\n").as_bytes())?;
    Ok(FeatureReport { written: names.len(), grid, skipped, names_file })
}
