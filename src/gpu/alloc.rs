//! Allocation through the memory plan: every buffer the model creates is recorded with its
//! name and shape, so the plan's total can be printed and nothing is created after start-up.

use super::{Engine, GpuTensor, MemoryPlan};
use crate::error::Result;

pub struct Alloc<'a> {
    pub e: &'a Engine,
    pub plan: MemoryPlan,
}

impl<'a> Alloc<'a> {
    pub fn new(e: &'a Engine) -> Self {
        Self { e, plan: MemoryPlan::default() }
    }

    /// A zeroed f32 (or u32) tensor, recorded in the plan. Fails naming a tensor beyond the
    /// device's buffer or binding limits.
    pub fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<GpuTensor> {
        let mut one = MemoryPlan::default();
        one.add(name, shape);
        one.check(&self.e.ctx)?;
        self.plan.add(name, shape);
        GpuTensor::zeros(&self.e.ctx, name, shape)
    }

    pub fn u32s(&mut self, name: &str, data: &[u32]) -> Result<GpuTensor> {
        self.plan.add(name, &[data.len()]);
        GpuTensor::from_u32(&self.e.ctx, name, &[data.len()], data)
    }
}
