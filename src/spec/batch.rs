//! What one training step consumes: the views as flattened patches, drop-path scales, and
//! this step's scheduled hyper-parameters. Plain data, shared by the GPU step and the CPU
//! reference.

use super::config::AdclrConfig;

/// Patches are flattened in the conv weight's order (channel, row, column), one row per
/// patch, images in crop-major order (crop * B + image).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepInput {
    /// [2B * N, C*P*P]: the two global views.
    pub global_patches: Vec<f32>,
    /// [2B * Q, C*P*P]: each image's Q query crops, repeated for both global views.
    pub query_patches: Vec<f32>,
    /// [L*B * N_local, C*P*P]: the local crops.
    pub local_patches: Vec<f32>,
    /// Student drop-path scales, [depth * 2 (attn, mlp) * 2B] for the global views and
    /// [depth * 2 * L*B] for the local ones: 0 drops a branch, 1/(1-p) keeps it.
    pub global_drop: Vec<f32>,
    pub local_drop: Vec<f32>,
}

impl StepInput {
    /// Checks every length against the configuration.
    pub fn validate(&self, c: &AdclrConfig) -> Result<(), String> {
        let m = &c.model;
        let (b, cpp) = (c.batch, m.patch_len());
        let expect = [
            ("global_patches", self.global_patches.len(), 2 * b * m.patches(m.image_size) * cpp),
            ("query_patches", self.query_patches.len(), 2 * b * c.queries * cpp),
            ("local_patches", self.local_patches.len(), c.local_crops * b * m.patches(m.local_size) * cpp),
            ("global_drop", self.global_drop.len(), m.depth * 2 * 2 * b),
            ("local_drop", self.local_drop.len(), m.depth * 2 * c.local_crops * b),
        ];
        for (name, got, want) in expect {
            if got != want {
                return Err(format!("step input `{name}` has {got} values, expected {want}"));
            }
        }
        Ok(())
    }

    /// Drop-path scales of ones (no drop-path, the teacher's).
    pub fn no_drop(c: &AdclrConfig) -> (Vec<f32>, Vec<f32>) {
        let d = c.model.depth * 2;
        (vec![1.0; d * 2 * c.batch], vec![1.0; d * c.local_crops * c.batch])
    }
}

/// This step's values of the schedules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepHyper {
    pub lr: f64,
    pub weight_decay: f64,
    pub teacher_momentum: f64,
    pub teacher_temp: f64,
    /// The query term's teacher temperature (the CLS one unless set apart).
    pub teacher_query_temp: f64,
    /// The head's last layer is frozen (first epoch): no update, no decay.
    pub freeze_last_layer: bool,
}

/// Loss terms and collapse monitors of a step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepReport {
    pub loss: f64,
    pub global_loss: f64,
    pub query_loss: f64,
}
