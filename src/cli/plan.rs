//! `adclr-wgpu plan`: the training step's memory plan, built as a dry run (nothing large allocated).

use super::args::PlanArgs;
use super::engine_request;
use crate::error::{Error, Result};
use crate::gpu::Engine;

pub fn run(p: PlanArgs) -> Result<()> {
    let PlanArgs { device, preset, batch, queries, local_crops } = p;
    let model = crate::model::ModelConfig::preset(&preset).map_err(Error::Data)?;
    let mut cfg = crate::model::AdclrConfig::new(model, batch);
    cfg.queries = queries;
    cfg.local_crops = local_crops;
    if queries == 0 {
        cfg.lambda = 0.0;
    }
    cfg.validate().map_err(Error::Data)?;
    let mut e = Engine::open(&engine_request(&device)?)?;
    e.dry_run = true;
    let step = crate::model::step::AdclrStep::new(&e, &cfg, 0)?;
    println!(
        "{preset} ({}), batch {batch}, Q {queries}, {local_crops} local crops on {}: {}",
        cfg.model.summary(),
        e.ctx.describe(),
        step.plan.summary()
    );
    for (group, bytes) in step.plan.by_group().iter().take(12) {
        println!("  {:>10.1} MiB  {group}", *bytes as f64 / (1u64 << 20) as f64);
    }
    if let Some((name, bytes)) = step.over_limit.iter().max_by_key(|t| t.1) {
        println!(
            "{} tensors exceed this device's buffer or binding limit ({} bytes per binding); largest `{name}` {bytes} bytes",
            step.over_limit.len(),
            e.ctx.limits.max_storage_buffer_binding_size
        );
    }
    Ok(())
}
