//! Reading training checkpoints and backbones, refusing damaged or non-finite ones.

use super::checksum::verify_checksum;
use super::{ck, model_from_metadata, Named, Normalization, TrainingState};
use crate::error::Result;
use crate::spec::config::ModelConfig;
use crate::spec::params::{is_backbone, param_specs};
use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

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

/// One metadata value of a safetensors file (None: unreadable, not safetensors, or absent),
/// reading its header only: the u64 length, then the JSON whose `__metadata__` holds it.
pub(crate) fn metadata_value(path: &Path, key: &str) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = usize::try_from(u64::from_le_bytes(len)).ok().filter(|&n| n <= 100 << 20)?;
    let mut header = vec![0u8; len];
    file.read_exact(&mut header).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&header).ok()?;
    json.get("__metadata__")?.get(key)?.as_str().map(String::from)
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
