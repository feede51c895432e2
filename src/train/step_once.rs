//! One optimisation step, as `train` (`run`) and the browser's session (`session`) both take
//! it: forward and backward over the batch (in micro-batches when it holds several), the
//! gradients averaged over the ranks where there are others, the update, the centres averaged.
//! `read_figures` is what both read back after a step (the loss terms and the loss scale), as
//! a future. `turn::Turn` takes both, with the health check between them.

use super::data_parallel::{average_centres, GradientExchange};
use super::micro_batch::MicroBatches;
use crate::dist::Collective;
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::step::AdclrStep;
use crate::reference::loss_scale::LossScaler;
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

/// What a step reports, read the same way by `train` and the session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepFigures {
    /// The loss terms: the micro-batches' average where there were several, else the step's.
    pub report: StepReport,
    /// f16-mixed: the dynamic loss scale for the next step and the steps skipped so far.
    pub loss_scale: Option<LossScaler>,
}

/// The figures of the step just taken (`averaged`: what `take_step` returned).
pub async fn read_figures(e: &Engine, step: &AdclrStep, averaged: Option<StepReport>) -> Result<StepFigures> {
    let report = match averaged {
        Some(r) => r,
        None => step.report_async(e).await?,
    };
    Ok(StepFigures { report, loss_scale: step.loss_scaler_async(e).await? })
}
