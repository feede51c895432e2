//! The CRC-32 of a file's tensors, written into its metadata and verified on every load.

use super::ck;
use crate::error::Result;
use safetensors::tensor::SafeTensors;
use std::collections::HashMap;
use std::path::Path;

/// CRC-32 of every tensor's name and data, in name order: "crc32:89abcdef".
pub(super) fn tensor_checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = crc32fast::Hasher::new();
    for (name, data) in tensors {
        h.update(name.as_bytes());
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    format!("crc32:{:08x}", h.finalize())
}

/// The metadata key of the checksum.
pub(super) const CHECKSUM: &str = "tensor_checksum";

/// Checks the tensor data against the checksum in the metadata (files written before
/// checksums existed have none and are read as they are).
pub(super) fn verify_checksum(path: &Path, st: &SafeTensors, metadata: &HashMap<String, String>) -> Result<()> {
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
