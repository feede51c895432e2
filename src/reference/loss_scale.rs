//! Dynamic loss scaling (the reference of shaders/loss_scale.wgsl; PyTorch's GradScaler):
//! the loss gradient is multiplied by the scale; a step whose gradients are not finite is
//! skipped and the scale multiplied by `backoff`; after `growth_interval` clean steps in a
//! row the scale is multiplied by `growth`, unless that overflows f32.

/// How the scale moves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossScaleRule {
    pub init: f32,
    pub growth_interval: u32,
    pub growth: f32,
    pub backoff: f32,
}

impl LossScaleRule {
    /// PyTorch's defaults: 2^16, doubled after 2000 clean steps, halved on an overflow.
    pub const DEFAULT: Self = Self { init: 65536.0, growth_interval: 2000, growth: 2.0, backoff: 0.5 };
    /// No scaling (f32 training): the scale stays 1 and never moves.
    pub const NONE: Self = Self { init: 1.0, growth_interval: u32::MAX, growth: 1.0, backoff: 1.0 };
}

/// The scaler's state: [scale, clean steps in a row, steps skipped in all] on the GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossScaler {
    pub scale: f32,
    pub clean: u32,
    pub skipped: u32,
}

impl LossScaler {
    pub fn new(rule: &LossScaleRule) -> Self {
        Self { scale: rule.init, clean: 0, skipped: 0 }
    }

    /// After a step: `overflow` when its gradients were not finite (the step was skipped).
    pub fn update(&mut self, rule: &LossScaleRule, overflow: bool) {
        if overflow {
            self.scale *= rule.backoff;
            self.clean = 0;
            self.skipped += 1;
        } else {
            self.clean += 1;
            if self.clean >= rule.growth_interval {
                let grown = self.scale * rule.growth;
                if grown.is_finite() {
                    self.scale = grown;
                }
                self.clean = 0;
            }
        }
    }
}

/// The Adam bias correction 1 - beta^(t - s) of a tensor that skipped `s` of its `t` steps,
/// from the host's 1 - beta^t (what optim_grad_clip.wgsl computes).
pub fn bias_correction_after_skips(bc: f64, beta: f64, skipped: u32) -> f64 {
    if skipped == 0 {
        bc
    } else {
        1.0 - (1.0 - bc) * beta.powi(-(skipped as i32))
    }
}
