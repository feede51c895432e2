//! A step in micro-batches: when the step's tensors at the whole (per-rank) batch exceed what
//! one storage binding of the device holds (128 MiB under `--limits minimal`), or when
//! `--micro-batch` asks, the batch runs as k micro-batches one after the other on the same
//! model. The math is the data-parallel ranks' (`data_parallel`): the gradients are the mean of
//! the micro-batches' gradients, and the centres the mean of the micro-batches' centre updates
//! from the same starting centre, which is the whole batch's update. Only the host holds the
//! sums (one kept staging buffer), so nothing on the device grows with k.

use crate::error::{Error, Result};
use crate::gpu::{Engine, Staging};
use crate::model::step::AdclrStep;
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use crate::spec::config::AdclrConfig;

pub struct MicroBatches {
    staging: Staging,
    /// [chunk][chunk length] f32: the sum of the micro-batches' gradients.
    sums: Vec<Vec<f32>>,
    /// [largest chunk] f32
    host: Vec<f32>,
}

impl MicroBatches {
    pub fn new(e: &Engine, step: &AdclrStep) -> Self {
        let lens: Vec<usize> = step.chunks.iter().map(|c| c.grads.len()).collect();
        let largest = lens.iter().copied().max().unwrap_or(0);
        Self {
            staging: Staging::new(&e.ctx, 4 * largest as u64),
            sums: lens.iter().map(|&n| vec![0.0; n]).collect(),
            host: vec![0.0; largest],
        }
    }

    /// Forward and backward of every micro-batch in `inputs`, then the mean gradients written
    /// back for the update, which the caller runs with `update_parameters` (not `update`: the
    /// centres are set here). Returns the loss terms averaged over the micro-batches.
    pub fn forward_backward(
        &mut self,
        e: &Engine,
        step: &mut AdclrStep,
        inputs: &[StepInput],
        h: &StepHyper,
    ) -> Result<StepReport> {
        let k = inputs.len();
        let centres = [step.centre_cls.read_f32(&e.ctx)?, step.centre_query.read_f32(&e.ctx)?];
        let mut centre_sums = [vec![0.0f64; centres[0].len()], vec![0.0f64; centres[1].len()]];
        let mut report = [0.0f64; 3];
        self.sums.iter_mut().for_each(|s| s.fill(0.0));
        for (j, input) in inputs.iter().enumerate() {
            match j {
                0 => step.forward_backward(e, input, h)?,
                _ => step.micro_forward_backward(e, input)?,
            }
            for (c, sum) in step.chunks.iter().zip(&mut self.sums) {
                let values = &mut self.host[..sum.len()];
                c.grads.read_into(&e.ctx, &self.staging, values)?;
                sum.iter_mut().zip(values.iter()).for_each(|(s, v)| *s += v);
            }
            let r = step.report(e)?;
            for (acc, v) in report.iter_mut().zip([r.loss, r.global_loss, r.query_loss]) {
                *acc += v;
            }
            // This micro-batch's centre update from the step's starting centres.
            step.update_centres(e);
            for ((tensor, start), acc) in
                [&step.centre_cls, &step.centre_query].into_iter().zip(&centres).zip(&mut centre_sums)
            {
                let updated = tensor.read_f32(&e.ctx)?;
                acc.iter_mut().zip(&updated).for_each(|(a, &u)| *a += u as f64);
                tensor.write_f32(&e.ctx, start)?;
            }
        }
        let inv = 1.0 / k as f32;
        for (c, sum) in step.chunks.iter().zip(&mut self.sums) {
            sum.iter_mut().for_each(|s| *s *= inv);
            c.grads.write_f32(&e.ctx, sum)?;
        }
        // Non-finite centres stay as they were: the update's health check then reports the
        // step, and the state before it is whole.
        for (tensor, acc) in [&step.centre_cls, &step.centre_query].into_iter().zip(&centre_sums) {
            let mean: Vec<f32> = acc.iter().map(|&a| (a / k as f64) as f32).collect();
            if mean.iter().all(|v| v.is_finite()) {
                tensor.write_f32(&e.ctx, &mean)?;
            }
        }
        let n = k as f64;
        Ok(StepReport { loss: report[0] / n, global_loss: report[1] / n, query_loss: report[2] / n })
    }
}

/// How many micro-batches the per-rank batch `batch` runs in: `micro_batch` images each when
/// given (it must divide the batch), else 1.
pub fn micro_batches(batch: usize, micro_batch: usize) -> Result<usize> {
    match micro_batch {
        0 => Ok(1),
        m if m > batch || !batch.is_multiple_of(m) => Err(Error::Data(format!(
            "--micro-batch {m} must divide the batch each process runs ({batch}): use a divisor of {batch}"
        ))),
        m => Ok(batch / m),
    }
}

/// The step of `local` (one process's configuration), in as few micro-batches as fit: the
/// number `micro_batch` asks for (0: one), more when a tensor of the step exceeds the
/// device's binding or buffer limit, growing with the excess (activations grow with the
/// batch). Returns the step, built for one micro-batch, and the number of micro-batches.
pub fn build_step(e: &Engine, local: &AdclrConfig, seed: u64, micro_batch: usize) -> Result<(AdclrStep, usize)> {
    let batch = local.batch;
    let mut k = micro_batches(batch, micro_batch)?;
    loop {
        let cfg = AdclrConfig { batch: batch / k, ..local.clone() };
        match AdclrStep::new(e, &cfg, seed) {
            Ok(step) => return Ok((step, k)),
            Err(Error::BindingTooLarge { bytes, limit, .. } | Error::BufferTooLarge { bytes, limit, .. })
                if micro_batch == 0 =>
            {
                let wanted = k * (bytes.div_ceil(limit.max(1)) as usize).max(2);
                match (wanted..=batch).find(|m| batch.is_multiple_of(*m)) {
                    Some(next) => k = next,
                    None => {
                        return Err(too_large_even_alone(AdclrStep::new(
                            e,
                            &AdclrConfig { batch: 1, ..local.clone() },
                            seed,
                        )))
                    }
                }
            }
            Err(other) => return Err(other),
        }
    }
}

/// The error of a step that does not fit even at one image per micro-batch.
fn too_large_even_alone(one: Result<AdclrStep>) -> Error {
    match one {
        Err(e) => Error::Data(format!("{e} (even one image per micro-batch does not fit: use a smaller model)")),
        Ok(_) => Error::Data(
            "the step does not fit in any number of micro-batches dividing the batch: use a batch with more divisors"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_batch_counts_divide_the_batch() {
        assert_eq!(micro_batches(8, 0).unwrap(), 1);
        assert_eq!(micro_batches(8, 2).unwrap(), 4);
        assert!(micro_batches(8, 3).unwrap_err().to_string().contains("--micro-batch 3"));
        assert!(micro_batches(8, 16).is_err());
    }
}
