//! Writing training checkpoints and exported backbones (atomically).

use super::checksum::{tensor_checksum, CHECKSUM};
use super::{ck, load_backbone, load_training, model_metadata, write_atomic, Named, Normalization, TrainingState};
use crate::error::Result;
use crate::spec::config::ModelConfig;
use crate::spec::params::{is_backbone, param_specs};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Little-endian bytes of f32 / i64 values.
fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i64(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect()
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

/// Writes the teacher backbone alone (timm names, no prefix) from a training checkpoint, or
/// checks and writes again a backbone file (what the browser page downloads).
pub fn export_backbone(checkpoint: &Path, out: &Path) -> Result<()> {
    if super::load::metadata_value(checkpoint, "kind").as_deref() == Some("backbone") {
        let (model, norm, weights) = load_backbone(checkpoint)?;
        let step = super::load::metadata_value(checkpoint, "step").and_then(|s| s.parse().ok()).unwrap_or(0);
        return write_atomic(out, &backbone_bytes(out, &model, &norm, &weights, step)?);
    }
    let ck_in = load_training(checkpoint)?;
    write_atomic(out, &backbone_bytes(out, &ck_in.model, &ck_in.norm, &ck_in.state.teacher, ck_in.state.step)?)
}

/// The bytes of a backbone file (timm names, `kind = backbone`, the step it was taken at) for
/// `weights` (the teacher's backbone tensors); `path` names it in errors.
pub fn backbone_bytes(
    path: &Path,
    model: &ModelConfig,
    norm: &Normalization,
    weights: &Named,
    step: u64,
) -> Result<Vec<u8>> {
    let mut t = BTreeMap::new();
    put_named(&mut t, path, "", weights, model, is_backbone)?;
    let mut meta = model_metadata(model, norm);
    meta.insert("kind".into(), "backbone".into());
    meta.insert("step".into(), step.to_string());
    serialize(path, &t, meta)
}
