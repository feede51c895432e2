//! `adclr-wgpu bench`: training steps (and kernels) timed, as JSON.

use super::args::BenchArgs;
use super::engine_request;
use crate::error::{Error, Result};

pub fn run(b: BenchArgs) -> Result<()> {
    let BenchArgs { device, preset, batch, queries, local_crops, steps, kernels, repeats, max_matmul } = b;
    let model = crate::model::ModelConfig::preset(&preset).map_err(Error::Data)?;
    let mut cfg = crate::model::AdclrConfig::new(model, batch);
    cfg.queries = queries;
    cfg.local_crops = local_crops;
    if queries == 0 {
        cfg.lambda = 0.0;
    }
    let request = engine_request(&device)?;
    let mut report = serde_json::json!({ "step": crate::perf::bench::step_bench(&request, &cfg, steps)? });
    if kernels {
        report["kernels"] = crate::perf::bench::kernel_bench(&request, repeats, max_matmul)?;
    }
    println!("{report}");
    Ok(())
}
