//! One optimisation step, as `train` (`run`) and the browser's session (`session`) both take
//! it: forward and backward over the batch (in micro-batches when it holds several), the
//! gradients averaged over the ranks where there are others, the update, the centres averaged.
//! Records and submits only: what each caller reads back (health, losses) stays its own, as
//! the session awaits its readbacks and `train` blocks on them.

use super::data_parallel::{average_centres, GradientExchange};
use super::micro_batch::MicroBatches;
use crate::dist::Collective;
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::spec::batch::{StepHyper, StepInput, StepReport};
use std::time::Duration;

/// The other ranks of a data-parallel run and the exchange of gradients with them.
pub struct Ranks<'a> {
    pub gradients: &'a mut GradientExchange,
    pub coll: &'a dyn Collective,
}

/// Takes one step on `inputs` (one per micro-batch; several need `micro`'s sums) and, with
/// `ranks`, averages the gradients and centres over them. Returns the time spent exchanging
/// gradients, and the loss terms where micro-batches averaged them (else the step's report
/// holds them).
pub fn take_step(
    e: &Engine,
    step: &mut AdclrStep,
    inputs: &[StepInput],
    h: &StepHyper,
    micro: &mut Option<MicroBatches>,
    mut ranks: Option<Ranks>,
) -> Result<(Duration, Option<StepReport>)> {
    let report = match (micro, inputs) {
        (_, [one]) => {
            step.forward_backward(e, one, h)?;
            None
        }
        (Some(m), several) => Some(m.forward_backward(e, step, several, h)?),
        (None, _) => return Err(Error::Data("a step of several micro-batches without their sums".into())),
    };
    let exchange = match &mut ranks {
        Some(r) => r.gradients.average(e, step, r.coll)?,
        None => Duration::ZERO,
    };
    match report {
        None => step.update(e)?,
        Some(_) => step.update_parameters(e)?,
    }
    if let Some(r) = &ranks {
        average_centres(e, step, r.coll)?;
    }
    Ok((exchange, report))
}
