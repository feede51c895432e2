//! The model description in a checkpoint's metadata: enough to rebuild the model.

use super::{ck, Normalization};
use crate::error::Result;
use crate::spec::config::ModelConfig;
use std::collections::HashMap;
use std::path::Path;

/// The metadata describing a model: enough to rebuild it.
pub fn model_metadata(m: &ModelConfig, norm: &Normalization) -> HashMap<String, String> {
    let mut h = HashMap::new();
    let mut put = |k: &str, v: String| {
        h.insert(k.to_string(), v);
    };
    put("format", "adclr-wgpu".into());
    put("preset", m.preset.clone());
    put("image_size", m.image_size.to_string());
    put("patch_size", m.patch_size.to_string());
    put("channels", m.channels.to_string());
    put("dim", m.dim.to_string());
    put("depth", m.depth.to_string());
    put("heads", m.heads.to_string());
    put("mlp_ratio", m.mlp_ratio.to_string());
    put("out_dim", m.out_dim.to_string());
    put("head_hidden", m.head_hidden.to_string());
    put("head_bottleneck", m.head_bottleneck.to_string());
    put("local_size", m.local_size.to_string());
    put("ln_eps", m.ln_eps.to_string());
    let join = |v: &[f32; 3]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    put("mean", join(&norm.mean));
    put("std", join(&norm.std));
    h
}

/// Rebuilds the model configuration and normalisation from metadata.
pub fn model_from_metadata(path: &Path, h: &HashMap<String, String>) -> Result<(ModelConfig, Normalization)> {
    let get =
        |k: &str| h.get(k).ok_or_else(|| ck(path, format!("metadata has no `{k}`: not an adclr-wgpu checkpoint?")));
    let num =
        |k: &str| -> Result<usize> { get(k)?.parse().map_err(|_| ck(path, format!("metadata `{k}` is not a number"))) };
    let triple = |k: &str| -> Result<[f32; 3]> {
        let v: Vec<f32> = get(k)?.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        v.try_into().map_err(|_| ck(path, format!("metadata `{k}` is not three numbers")))
    };
    let m = ModelConfig {
        preset: get("preset")?.clone(),
        image_size: num("image_size")?,
        patch_size: num("patch_size")?,
        channels: num("channels")?,
        dim: num("dim")?,
        depth: num("depth")?,
        heads: num("heads")?,
        mlp_ratio: num("mlp_ratio")?,
        out_dim: num("out_dim")?,
        head_hidden: num("head_hidden")?,
        head_bottleneck: num("head_bottleneck")?,
        local_size: num("local_size")?,
        ln_eps: get("ln_eps")?.parse().map_err(|_| ck(path, "metadata `ln_eps` is not a number"))?,
    };
    m.validate().map_err(|e| ck(path, e))?;
    Ok((m, Normalization { mean: triple("mean")?, std: triple("std")? }))
}
