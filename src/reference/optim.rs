//! Per-tensor gradient clipping, AdamW and the teacher EMA over flat parameter buffers.

pub use crate::spec::flat::Segment;

/// Per segment (scale, norm): scale = min(1, max_norm / (norm + 1e-6)), 1 if max_norm <= 0.
pub fn clip_scales(grads: &[f64], segments: &[Segment], max_norm: f64) -> Vec<(f64, f64)> {
    segments
        .iter()
        .map(|s| {
            let norm = grads[s.offset..s.offset + s.len].iter().map(|g| g * g).sum::<f64>().sqrt();
            let scale = if max_norm > 0.0 { (max_norm / (norm + 1e-6)).min(1.0) } else { 1.0 };
            (scale, norm)
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

/// One AdamW step in place (PyTorch's formulation), gradients scaled per segment.
pub fn adamw_step(
    opt: &AdamW,
    segments: &[Segment],
    clip: &[(f64, f64)],
    grads: &[f64],
    params: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    for (s, &(scale, _)) in segments.iter().zip(clip) {
        let lr = opt.lr * s.lr_scale;
        if lr == 0.0 {
            continue;
        }
        let bc1 = 1.0 - opt.beta1.powi(s.step as i32);
        let bc2 = 1.0 - opt.beta2.powi(s.step as i32);
        for i in s.offset..s.offset + s.len {
            let g = grads[i] * scale;
            m[i] = opt.beta1 * m[i] + (1.0 - opt.beta1) * g;
            v[i] = opt.beta2 * v[i] + (1.0 - opt.beta2) * g * g;
            if s.decay {
                params[i] *= 1.0 - lr * opt.weight_decay;
            }
            params[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + opt.eps);
        }
    }
}

/// teacher <- momentum teacher + (1 - momentum) student.
pub fn ema(teacher: &mut [f64], student: &[f64], momentum: f64) {
    for (t, s) in teacher.iter_mut().zip(student) {
        *t = momentum * *t + (1.0 - momentum) * s;
    }
}
