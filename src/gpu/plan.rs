//! The memory plan: every buffer a model or benchmark needs, with its shape, listed before
//! anything is allocated, so the total can be reported and checked against the device and
//! nothing is allocated once training runs.

use super::context::GpuContext;
use super::tensor::{numel, GpuTensor};
use crate::error::{Error, Result};

/// A named list of planned tensors.
#[derive(Clone, Debug, Default)]
pub struct MemoryPlan {
    pub entries: Vec<(String, Vec<usize>)>,
}

fn bytes_of(shape: &[usize]) -> u64 {
    (numel(shape).max(1) * 4) as u64
}

impl MemoryPlan {
    /// Plans a tensor; returns its index in `allocate`'s result.
    pub fn add(&mut self, name: &str, shape: &[usize]) -> usize {
        self.entries.push((name.to_string(), shape.to_vec()));
        self.entries.len() - 1
    }

    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|(_, s)| bytes_of(s)).sum()
    }

    /// The largest single tensor (what the binding limit is checked against).
    pub fn largest(&self) -> Option<(&str, u64)> {
        self.entries.iter().map(|(n, s)| (n.as_str(), bytes_of(s))).max_by_key(|&(_, b)| b)
    }

    /// Checks every tensor against the device's buffer and binding limits, naming the first
    /// that does not fit, before anything is allocated.
    pub fn check(&self, ctx: &GpuContext) -> Result<()> {
        let binding = ctx.limits.max_storage_buffer_binding_size;
        for (name, shape) in &self.entries {
            let bytes = bytes_of(shape);
            if bytes > ctx.limits.max_buffer_size {
                return Err(Error::BufferTooLarge { name: name.clone(), bytes, limit: ctx.limits.max_buffer_size });
            }
            if bytes > binding {
                return Err(Error::BindingTooLarge { name: name.clone(), bytes, limit: binding });
            }
        }
        Ok(())
    }

    /// Allocates every planned tensor (zeroed), in plan order, after `check`.
    pub fn allocate(&self, ctx: &GpuContext) -> Result<Vec<GpuTensor>> {
        self.check(ctx)?;
        self.entries.iter().map(|(name, shape)| GpuTensor::zeros(ctx, name, shape)).collect()
    }

    /// Bytes per group of tensors: names with block numbers folded (`x.blocks.3.h` counts
    /// under `x.blocks.*.h`), largest first.
    pub fn by_group(&self) -> Vec<(String, u64)> {
        let mut groups: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for (name, shape) in &self.entries {
            let key: Vec<&str> =
                name.split('.').map(|part| if part.parse::<usize>().is_ok() { "*" } else { part }).collect();
            *groups.entry(key.join(".")).or_default() += bytes_of(shape);
        }
        let mut v: Vec<(String, u64)> = groups.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    pub fn summary(&self) -> String {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        match self.largest() {
            Some((name, b)) => format!(
                "{} tensors, {:.1} MiB in total, largest `{name}` {:.1} MiB",
                self.entries.len(),
                mib(self.total_bytes()),
                mib(b)
            ),
            None => "no tensors".to_string(),
        }
    }
}
