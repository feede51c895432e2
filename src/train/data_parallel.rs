//! What the ranks of a data-parallel training exchange (issue 14), in the order a step needs
//! it: rank 0's settings and run directory at the start, rank 0's state on resume, then every
//! step the gradients (summed over ranks, divided by their number, chunk by chunk, largest
//! first), the centres after the update, the stop decision, and for logging the loss terms.
//! With one rank every function here returns at once.

use super::config::TrainConfig;
use crate::dist::Collective;
use crate::error::{Error, Result};
use crate::gpu::{Engine, Staging};
use crate::model::state::TrainingState;
use crate::model::step::AdclrStep;
use crate::spec::batch::StepReport;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Rank 0's settings and run directory on every rank (the others read no run directory).
pub fn share_settings(coll: &dyn Collective, root: Option<(TrainConfig, PathBuf)>) -> Result<(TrainConfig, PathBuf)> {
    if coll.ranks() == 1 {
        return root.ok_or_else(|| Error::Data("a single process must be rank 0".into()));
    }
    let mut bytes = match &root {
        Some((tc, dir)) => format!("{}\n{}", dir.display(), tc.to_toml()).into_bytes(),
        None => Vec::new(),
    };
    coll.broadcast_bytes(&mut bytes)?;
    if let Some(shared) = root {
        return Ok(shared);
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Data("rank 0 sent settings that are not UTF-8".into()))?;
    let (dir, toml) = text.split_once('\n').unwrap_or((&text, ""));
    let tc = TrainConfig::from_toml(toml, "rank 0's settings").map_err(Error::Data)?;
    Ok((tc, PathBuf::from(dir)))
}

/// Every rank takes rank 0's state: the one rank 0 read from the run directory (`loaded`,
/// on rank 0 only) on resume. The other ranks start from their own initial state, which
/// fixes every length, and receive rank 0's values into it.
pub fn share_state(
    e: &Engine,
    step: &mut AdclrStep,
    coll: &dyn Collective,
    loaded: Option<TrainingState>,
) -> Result<()> {
    let mut st = match loaded {
        Some(st) => st,
        None => step.state(e, 0)?,
    };
    if coll.ranks() > 1 {
        for named in [&mut st.student, &mut st.teacher, &mut st.exp_avg, &mut st.exp_avg_sq] {
            for values in named.values_mut() {
                coll.broadcast_f32(values)?;
            }
        }
        coll.broadcast_f32(&mut st.centre_cls)?;
        coll.broadcast_f32(&mut st.centre_query)?;
        let mut counters: Vec<u8> =
            [st.step, st.rng].iter().chain(&st.tensor_steps).flat_map(|v| v.to_le_bytes()).collect();
        coll.broadcast_bytes(&mut counters)?;
        let mut words = counters.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        (st.step, st.rng) = (words.next().unwrap_or(0), words.next().unwrap_or(0));
        st.tensor_steps = words.collect();
    }
    step.load_state(e, &st)
}

/// The host side of the gradient exchange, kept across steps: one staging buffer and one
/// host copy of the largest chunk.
pub struct GradientExchange {
    staging: Staging,
    /// [largest chunk] f32
    host: Vec<f32>,
    /// Chunk indices, largest first.
    order: Vec<usize>,
}

impl GradientExchange {
    /// Nothing is allocated for a single rank.
    pub fn new(e: &Engine, step: &AdclrStep, coll: &dyn Collective) -> Self {
        let mut order: Vec<usize> = (0..step.chunks.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(step.chunks[i].grads.len()));
        let largest = match coll.ranks() {
            1 => 0,
            _ => order.first().map_or(0, |&i| step.chunks[i].grads.len()),
        };
        Self { staging: Staging::new(&e.ctx, 4 * largest as u64), host: vec![0.0; largest], order }
    }

    /// Replaces every rank's gradients by their mean over the ranks, chunk by chunk, largest
    /// first. Returns the time spent reading, combining and writing them (the backward pass
    /// finished first, so its time is not counted).
    pub fn average(&mut self, e: &Engine, step: &AdclrStep, coll: &dyn Collective) -> Result<Duration> {
        if coll.ranks() == 1 {
            return Ok(Duration::ZERO);
        }
        e.ctx.wait()?;
        let started = Instant::now();
        for &i in &self.order {
            let grads = &step.chunks[i].grads;
            let values = &mut self.host[..grads.len()];
            grads.read_into(&e.ctx, &self.staging, values)?;
            coll.mean_f32(values)?;
            grads.write_f32(&e.ctx, values)?;
        }
        Ok(started.elapsed())
    }
}

/// Replaces every rank's centres by their mean. Exact: each rank's update is
/// `m c + (1 - m) mean(own teacher outputs)` from the same `c`, so the mean of the updated
/// centres is the update with the global batch's mean, what a single process computes.
pub fn average_centres(e: &Engine, step: &AdclrStep, coll: &dyn Collective) -> Result<()> {
    if coll.ranks() == 1 {
        return Ok(());
    }
    for centre in [&step.centre_cls, &step.centre_query] {
        let mut values = centre.read_f32(&e.ctx)?;
        coll.mean_f32(&mut values)?;
        centre.write_f32(&e.ctx, &values)?;
    }
    Ok(())
}

/// The loss terms averaged over the ranks (the global batch's, as each is a batch mean).
pub fn mean_report(coll: &dyn Collective, r: StepReport) -> Result<StepReport> {
    let mut v = [r.loss, r.global_loss, r.query_loss];
    coll.mean_f64(&mut v)?;
    Ok(StepReport { loss: v[0], global_loss: v[1], query_loss: v[2] })
}
