//! Checkpoints as safetensors, interchangeable with PyTorch.
//!
//! A training checkpoint holds `student.<name>` and `teacher.<name>` (timm / DINO names and
//! layouts), `optimizer.exp_avg.<name>`, `optimizer.exp_avg_sq.<name>`,
//! `optimizer.steps` (i64, one per parameter, in parameter order), `centre.cls` and
//! `centre.query` ([1, K]), `step` (i64) and `rng` (u64). An exported backbone holds the
//! teacher's backbone tensors with no prefix, loadable by timm's VisionTransformer.
//! The model configuration, image size and normalisation are in the metadata.
//! Files are written to a temporary name, synced, then renamed: never half-written.

pub use crate::data::normalization::Normalization;
use crate::error::{Error, Result};
pub use crate::fs::{remove_stale_temporaries, write_atomic};
pub use crate::model::state::{Named, TrainingState};
use crate::spec::config::ModelConfig;
use crate::spec::params::{is_backbone, param_specs};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn ck(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Checkpoint(format!("{}: {what}", path.display()))
}

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

/// Little-endian bytes of f32 / i64 / u64 values.
fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i64(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect()
}

/// CRC-32 of every tensor's name and data, in name order: "crc32:89abcdef".
fn tensor_checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = crc32fast::Hasher::new();
    for (name, data) in tensors {
        h.update(name.as_bytes());
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    format!("crc32:{:08x}", h.finalize())
}

/// The metadata key of the checksum.
const CHECKSUM: &str = "tensor_checksum";

/// Checks the tensor data against the checksum in the metadata (files written before
/// checksums existed have none and are read as they are).
fn verify_checksum(path: &Path, st: &SafeTensors, metadata: &HashMap<String, String>) -> Result<()> {
    let Some(want) = metadata.get(CHECKSUM) else { return Ok(()) };
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let got = tensor_checksum(tensors.iter().map(|(n, t)| (n.as_str(), t.data())));
    if &got != want {
        return Err(ck(
            path,
            format!(
                "its tensor data does not match the checksum written with it ({got}, expected {want}): \
                 the file was damaged after it was written; use an earlier copy"
            ),
        ));
    }
    Ok(())
}

struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn serialize(path: &Path, tensors: &BTreeMap<String, Owned>, mut meta: HashMap<String, String>) -> Result<Vec<u8>> {
    meta.insert(CHECKSUM.into(), tensor_checksum(tensors.iter().map(|(n, o)| (n.as_str(), o.data.as_slice()))));
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, o)| Ok((n.clone(), TensorView::new(o.dtype, o.shape.clone(), &o.data).map_err(|e| ck(path, e))?)))
        .collect::<Result<_>>()?;
    safetensors::serialize(views, Some(meta)).map_err(|e| ck(path, e))
}

fn put_named(
    out: &mut BTreeMap<String, Owned>,
    path: &Path,
    prefix: &str,
    named: &Named,
    m: &ModelConfig,
    filter: fn(&str) -> bool,
) -> Result<()> {
    for spec in param_specs(m).iter().filter(|s| filter(&s.name)) {
        let v = named.get(&spec.name).ok_or_else(|| ck(path, format!("state has no `{}`", spec.name)))?;
        if v.len() != spec.len() {
            return Err(ck(path, format!("`{}` has {} values, expected {}", spec.name, v.len(), spec.len())));
        }
        out.insert(
            format!("{prefix}{}", spec.name),
            Owned { dtype: Dtype::F32, shape: spec.shape.clone(), data: bytes_f32(v) },
        );
    }
    Ok(())
}

/// Saves a training checkpoint atomically. `extra` metadata (the run's settings) is added.
pub fn save_training(
    path: &Path,
    m: &ModelConfig,
    norm: &Normalization,
    extra: &[(String, String)],
    st: &TrainingState,
) -> Result<()> {
    let all = |_: &str| true;
    let mut t = BTreeMap::new();
    put_named(&mut t, path, "student.", &st.student, m, all)?;
    put_named(&mut t, path, "teacher.", &st.teacher, m, all)?;
    put_named(&mut t, path, "optimizer.exp_avg.", &st.exp_avg, m, all)?;
    put_named(&mut t, path, "optimizer.exp_avg_sq.", &st.exp_avg_sq, m, all)?;
    t.insert(
        "optimizer.steps".into(),
        Owned { dtype: Dtype::I64, shape: vec![st.tensor_steps.len()], data: bytes_i64(&st.tensor_steps) },
    );
    t.insert(
        "centre.cls".into(),
        Owned { dtype: Dtype::F32, shape: vec![1, st.centre_cls.len()], data: bytes_f32(&st.centre_cls) },
    );
    t.insert(
        "centre.query".into(),
        Owned { dtype: Dtype::F32, shape: vec![1, st.centre_query.len()], data: bytes_f32(&st.centre_query) },
    );
    t.insert("step".into(), Owned { dtype: Dtype::I64, shape: vec![1], data: bytes_i64(&[st.step]) });
    t.insert("rng".into(), Owned { dtype: Dtype::U64, shape: vec![1], data: st.rng.to_le_bytes().to_vec() });
    let mut meta = model_metadata(m, norm);
    meta.insert("kind".into(), "training".into());
    meta.extend(extra.iter().cloned());
    write_atomic(path, &serialize(path, &t, meta)?)
}

/// A loaded checkpoint's metadata, model and state.
pub struct LoadedCheckpoint {
    pub metadata: HashMap<String, String>,
    pub model: ModelConfig,
    pub norm: Normalization,
    pub state: TrainingState,
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ck(path, format!("cannot read: {e}")))
}

fn f32s(path: &Path, st: &SafeTensors, name: &str, len: usize) -> Result<Vec<f32>> {
    let t = st.tensor(name).map_err(|_| ck(path, format!("missing tensor `{name}`")))?;
    if t.dtype() != Dtype::F32 || t.data().len() != len * 4 {
        return Err(ck(
            path,
            format!("tensor `{name}` is {:?} {:?}, expected F32 with {len} values", t.dtype(), t.shape()),
        ));
    }
    Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn u64s(path: &Path, st: &SafeTensors, name: &str, dtype: Dtype, len: usize) -> Result<Vec<u64>> {
    let t = st.tensor(name).map_err(|_| ck(path, format!("missing tensor `{name}`")))?;
    if t.dtype() != dtype || t.data().len() != len * 8 {
        return Err(ck(
            path,
            format!("tensor `{name}` is {:?} {:?}, expected {dtype:?} with {len} values", t.dtype(), t.shape()),
        ));
    }
    Ok(t.data().chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect())
}

pub fn load_training(path: &Path) -> Result<LoadedCheckpoint> {
    let bytes = read_file(path)?;
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| ck(path, format!("not a safetensors file ({e})")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let (model, norm) = model_from_metadata(path, &metadata)?;
    if metadata.get("kind").map(String::as_str) != Some("training") {
        return Err(ck(path, "not a training checkpoint (an exported backbone cannot be resumed)"));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ck(path, e))?;
    verify_checksum(path, &st, &metadata)?;
    let specs = param_specs(&model);
    let named = |prefix: &str| -> Result<Named> {
        specs.iter().map(|s| Ok((s.name.clone(), f32s(path, &st, &format!("{prefix}{}", s.name), s.len())?))).collect()
    };
    let k = model.out_dim;
    let state = TrainingState {
        student: named("student.")?,
        teacher: named("teacher.")?,
        exp_avg: named("optimizer.exp_avg.")?,
        exp_avg_sq: named("optimizer.exp_avg_sq.")?,
        tensor_steps: u64s(path, &st, "optimizer.steps", Dtype::I64, specs.len())?,
        centre_cls: f32s(path, &st, "centre.cls", k)?,
        centre_query: f32s(path, &st, "centre.query", k)?,
        step: u64s(path, &st, "step", Dtype::I64, 1)?[0],
        rng: u64s(path, &st, "rng", Dtype::U64, 1)?[0],
    };
    if let Some(name) = state.first_non_finite() {
        return Err(ck(path, format!("tensor `{name}` holds NaN or infinity: this state cannot be used")));
    }
    Ok(LoadedCheckpoint { metadata, model, norm, state })
}

/// Writes the teacher backbone alone (timm names, no prefix) from a training checkpoint.
pub fn export_backbone(checkpoint: &Path, out: &Path) -> Result<()> {
    let ck_in = load_training(checkpoint)?;
    let mut t = BTreeMap::new();
    put_named(&mut t, out, "", &ck_in.state.teacher, &ck_in.model, is_backbone)?;
    let mut meta = model_metadata(&ck_in.model, &ck_in.norm);
    meta.insert("kind".into(), "backbone".into());
    meta.insert("step".into(), ck_in.state.step.to_string());
    write_atomic(out, &serialize(out, &t, meta)?)
}

/// Loads an exported backbone or a training checkpoint's teacher backbone (for features,
/// evaluation and attention maps).
pub fn load_backbone(path: &Path) -> Result<(ModelConfig, Normalization, Named)> {
    let bytes = read_file(path)?;
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| ck(path, format!("not a safetensors file ({e})")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let (model, norm) = model_from_metadata(path, &metadata)?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ck(path, e))?;
    verify_checksum(path, &st, &metadata)?;
    let prefix = if metadata.get("kind").map(String::as_str) == Some("training") { "teacher." } else { "" };
    let named = param_specs(&model)
        .iter()
        .filter(|s| is_backbone(&s.name))
        .map(|s| Ok((s.name.clone(), f32s(path, &st, &format!("{prefix}{}", s.name), s.len())?)))
        .collect::<Result<Named>>()?;
    if let Some((name, _)) = named.iter().find(|(_, v)| v.iter().any(|x| !x.is_finite())) {
        return Err(ck(path, format!("tensor `{prefix}{name}` holds NaN or infinity: these weights cannot be used")));
    }
    Ok((model, norm, named))
}
