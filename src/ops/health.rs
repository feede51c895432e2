//! The training-health flag: NaN/inf in a loss term or gradient stops every state update on
//! the GPU until the host, reading the flag every N steps, stops with the step and the term.

use super::expect_len;
use crate::error::Result;
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{Dispatch, Engine, GpuTensor};

shader_params! {
    /// Check `n` values; a failure records `code` and `step`.
    pub struct HealthParams for ["health"] { n: u32, code: u32, step: u32, _pad: u32 }
}

/// A code with this bit set only marks the step skipped (health[3], dynamic loss scaling):
/// the update is skipped and the scale halved, and training goes on (shaders/health.wgsl).
pub const SKIP_ONLY: u32 = 1 << 31;

/// The WGSL constant the launcher relies on (ops::shader_constants).
pub const SKIP_ONLY_SHADER: (&str, &str, u32) = ("health", "SKIP_ONLY", SKIP_ONLY);

/// What the flag says once read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    Ok,
    /// The first non-finite check: the term's code and the step it was seen at.
    Failed {
        code: u32,
        step: u32,
    },
}

/// The flag buffer [ok, code, step, skip this step].
pub struct Health {
    pub flag: GpuTensor,
}

impl Health {
    pub fn new(e: &Engine) -> Result<Self> {
        Ok(Self { flag: GpuTensor::from_u32(&e.ctx, "health", &[4], &[1, 0, 0, 0])? })
    }

    /// Marks the state healthy again (after loading a good checkpoint).
    pub fn reset(&self, e: &Engine) -> Result<()> {
        e.ctx.queue.write_buffer(&self.flag.buffer, self.flag.offset, bytemuck::cast_slice(&[1u32, 0, 0, 0]));
        Ok(())
    }

    /// A check of `values` (all of them) under `code`; `set_step` before each submit.
    pub fn check(&self, e: &Engine, values: &GpuTensor, code: u32) -> Result<Dispatch> {
        expect_len("health_check", values, values.len())?;
        e.dispatch(
            entry::HEALTH_CHECK,
            &HealthParams { n: values.len() as u32, code, step: 0, _pad: 0 },
            &[values, &self.flag],
            [1, 1, 1],
        )
    }

    pub fn set_step(e: &Engine, check: &Dispatch, values_len: usize, code: u32, step: u64) -> Result<()> {
        check.set_params(&e.ctx, &HealthParams { n: values_len as u32, code, step: step as u32, _pad: 0 })
    }

    pub fn read(&self, e: &Engine) -> Result<HealthState> {
        pollster::block_on(self.read_async(e))
    }

    /// `read` as a future.
    pub async fn read_async(&self, e: &Engine) -> Result<HealthState> {
        let v = self.flag.read_u32_async(&e.ctx).await?;
        Ok(if v[0] == 1 { HealthState::Ok } else { HealthState::Failed { code: v[1], step: v[2] } })
    }
}
