//! Allocation through the memory plan: every buffer the model creates is recorded with its
//! name and shape, so the plan's total can be printed and nothing is created after start-up.

use super::{Engine, GpuTensor, MemoryPlan};
use crate::error::Result;

pub struct Alloc<'a> {
    pub e: &'a Engine,
    pub plan: MemoryPlan,
    /// Dry run (`Engine::dry_run`): tensors beyond the device's limits, reported instead of
    /// failing.
    pub over_limit: Vec<(String, u64)>,
}

impl<'a> Alloc<'a> {
    pub fn new(e: &'a Engine) -> Self {
        Self { e, plan: MemoryPlan::default(), over_limit: Vec::new() }
    }

    /// A zeroed f32 (or u32) tensor, recorded in the plan. Fails naming a tensor beyond the
    /// device's buffer or binding limits.
    pub fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<GpuTensor> {
        let mut one = MemoryPlan::default();
        one.add(name, shape);
        self.plan.add(name, shape);
        if self.e.dry_run {
            if one.check(&self.e.ctx).is_err() {
                self.over_limit.push((name.to_string(), one.total_bytes()));
            }
            return Ok(GpuTensor::placeholder(&self.e.kernels.dummy, name, shape));
        }
        one.check(&self.e.ctx)?;
        GpuTensor::zeros(&self.e.ctx, name, shape)
    }

    pub fn u32s(&mut self, name: &str, data: &[u32]) -> Result<GpuTensor> {
        self.plan.add(name, &[data.len()]);
        if self.e.dry_run {
            return Ok(GpuTensor::placeholder(&self.e.kernels.dummy, name, &[data.len()]));
        }
        GpuTensor::from_u32(&self.e.ctx, name, &[data.len()], data)
    }
}
