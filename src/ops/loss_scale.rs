//! Dynamic loss scaling for f16-mixed training (shaders/loss_scale.wgsl,
//! `reference::loss_scale`): the scale multiplies the loss gradient, the clip pass divides it
//! out, a non-finite gradient skips the step through the health flag's skip word and halves
//! the scale, clean steps grow it. The state lives on the GPU; nothing is read back per step.

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{bits, grid_1d, Dispatch, Engine, GpuTensor};
pub use crate::reference::loss_scale::{LossScaleRule, LossScaler};

shader_params! {
    /// `n` values or segments; the rule's growth interval and factors.
    pub struct LossScaleParams for ["loss_scale"] { n: u32, growth_interval: u32, growth: f32, backoff: f32 }
}

/// The scaler state [scale (f32 bits), clean steps in a row, skipped steps, 0] and its rule.
pub struct LossScale {
    pub state: GpuTensor,
    pub rule: LossScaleRule,
    /// Stand in for the bindings a kernel of the file does not use: [values, segments, skipped].
    spare: [GpuTensor; 3],
}

impl LossScale {
    pub fn new(e: &Engine, rule: LossScaleRule) -> Result<Self> {
        if !(rule.init.is_finite()
            && rule.init > 0.0
            && rule.growth >= 1.0
            && rule.backoff > 0.0
            && rule.backoff <= 1.0)
        {
            return Err(shape_error(
                "loss_scale",
                format!("impossible rule {rule:?}: the scale must be positive, growth >= 1, 0 < backoff <= 1"),
            ));
        }
        let state = GpuTensor::from_u32(&e.ctx, "loss_scale.state", &[4], &Self::initial(&rule))?;
        let spare = [
            GpuTensor::zeros(&e.ctx, "loss_scale.spare_values", &[1])?,
            GpuTensor::from_u32(&e.ctx, "loss_scale.spare_segments", &[8], &[0; 8])?,
            GpuTensor::from_u32(&e.ctx, "loss_scale.spare_skipped", &[1], &[0])?,
        ];
        Ok(Self { state, rule, spare })
    }

    fn initial(rule: &LossScaleRule) -> [u32; 4] {
        [bits(rule.init), 0, 0, 0]
    }

    fn params(&self, n: usize) -> LossScaleParams {
        LossScaleParams {
            n: n as u32,
            growth_interval: self.rule.growth_interval,
            growth: self.rule.growth,
            backoff: self.rule.backoff,
        }
    }

    /// values *= scale (the loss gradient, before the backward pass).
    pub fn apply(&self, e: &Engine, values: &GpuTensor, health: &GpuTensor) -> Result<Dispatch> {
        let [_, segments, skipped] = &self.spare;
        let bufs = [&self.state, health, values, segments, skipped];
        e.dispatch(entry::LOSS_SCALE_APPLY, &self.params(values.len()), &bufs, grid_1d(values.len(), 256))
    }

    /// On a skipped step, one more skip in `skipped` [n_segments] for each segment of the
    /// table [n_segments, 8] with a non-zero lr scale.
    pub fn count_skips(
        &self,
        e: &Engine,
        segments: &GpuTensor,
        skipped: &GpuTensor,
        health: &GpuTensor,
    ) -> Result<Dispatch> {
        let n = skipped.len();
        expect_len("loss_scale_count_skips", segments, n * 8)?;
        let bufs = [&self.state, health, &self.spare[0], segments, skipped];
        e.dispatch(entry::LOSS_SCALE_COUNT_SKIPS, &self.params(n), &bufs, grid_1d(n, 64))
    }

    /// The scale for the next step (after every update of the step); clears the skip word.
    pub fn update(&self, e: &Engine, health: &GpuTensor) -> Result<Dispatch> {
        let [values, segments, skipped] = &self.spare;
        e.dispatch(
            entry::LOSS_SCALE_UPDATE,
            &self.params(1),
            &[&self.state, health, values, segments, skipped],
            [1, 1, 1],
        )
    }

    pub fn read(&self, e: &Engine) -> Result<LossScaler> {
        pollster::block_on(self.read_async(e))
    }

    /// `read` as a future.
    pub async fn read_async(&self, e: &Engine) -> Result<LossScaler> {
        let v = self.state.read_u32_async(&e.ctx).await?;
        Ok(LossScaler { scale: f32::from_bits(v[0]), clean: v[1], skipped: v[2] })
    }

    /// Back to the rule's initial scale (a run resumed from a checkpoint).
    pub fn reset(&self, e: &Engine) {
        e.ctx.queue.write_buffer(
            &self.state.buffer,
            self.state.offset,
            bytemuck::cast_slice(&Self::initial(&self.rule)),
        );
    }
}
