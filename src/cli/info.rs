//! `adclr-wgpu info`: adapters, the chosen one, and its limits.

use crate::error::Result;
use crate::gpu::context::{choose_adapter, list_adapters, AdapterChoice, DeviceLimits};
use crate::gpu::{KernelChoice, Overrides};
use serde_json::json;
use std::path::Path;

/// The limits that matter, as reported.
fn limits_json(limits: &wgpu::Limits) -> serde_json::Value {
    json!({
        "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
        "max_buffer_size": limits.max_buffer_size,
        "max_compute_workgroup_storage_size": limits.max_compute_workgroup_storage_size,
        "max_compute_invocations_per_workgroup": limits.max_compute_invocations_per_workgroup,
        "max_compute_workgroups_per_dimension": limits.max_compute_workgroups_per_dimension,
        "max_storage_buffers_per_shader_stage": limits.max_storage_buffers_per_shader_stage,
        "min_storage_buffer_offset_alignment": limits.min_storage_buffer_offset_alignment,
    })
}

/// The report as JSON (printed by the CLI): every adapter with what it offers, the chosen one,
/// under `--limits minimal` the limits the device is opened with instead, and the kernels
/// `overrides` (or why they cannot run), the tuning cache `tuning_file` and the rule choose.
pub fn adapter_report(
    choice: &AdapterChoice,
    overrides: Result<Overrides>,
    tuning_file: Option<&Path>,
) -> Result<serde_json::Value> {
    let device_limits = DeviceLimits::of(choice);
    let adapters = list_adapters(choice)?;
    let chosen = choose_adapter(&adapters, choice)?;
    let list: Vec<_> = adapters
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let info = a.get_info();
            let limits = a.limits();
            let features = a.features();
            json!({
                "index": i,
                "chosen": i == chosen,
                "name": info.name,
                "backend": format!("{:?}", info.backend),
                "device_type": format!("{:?}", info.device_type),
                "driver": info.driver,
                "driver_info": info.driver_info,
                "limits": limits_json(&limits),
                "subgroups": features.contains(wgpu::Features::SUBGROUP),
                "subgroup_min_size": info.subgroup_min_size,
                "subgroup_max_size": info.subgroup_max_size,
                "timestamp_query": features.contains(wgpu::Features::TIMESTAMP_QUERY),
                "shader_f16": features.contains(wgpu::Features::SHADER_F16),
                // Every cooperative-matrix configuration the adapter lists (what
                // `--precision f16-mixed` may run on its tensor cores: f16 x f16 -> f32).
                "cooperative_matrices": a.cooperative_matrix_properties().iter().map(|p| {
                    format!("{}x{}x{} {:?} x {:?} -> {:?}", p.m_size, p.n_size, p.k_size, p.ab_type, p.ab_type, p.cr_type)
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let opened_with = match device_limits {
        DeviceLimits::Adapter => json!("the chosen adapter's limits, with subgroups and timestamps where offered"),
        DeviceLimits::Minimal => json!({
            "limits": limits_json(&wgpu::Limits::default()),
            "subgroups": false,
            "timestamp_query": false,
        }),
    };
    // The kernel of each family `train` and `bench` would run on the chosen adapter, or why
    // the environment's choice cannot run there.
    let ctx = crate::gpu::GpuContext::open(choice)?;
    let tuned = tuning_file.and_then(|path| crate::gpu::tune::load(path, &ctx));
    let decided = overrides.and_then(|o| KernelChoice::decide(&ctx, tuned, None, &o));
    let kernels = match decided {
        Ok((kernels, sources)) => json!({
            "choice": kernels,
            "sources": sources,
            "summary": kernels.summary(&sources),
            "cooperative_matrix_sizes": ctx.coop_sizes,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    Ok(json!({
        "chosen": chosen,
        "device_limits": format!("{device_limits:?}").to_lowercase(),
        "opened_with": opened_with,
        "kernels": kernels,
        "adapters": list,
    }))
}

/// `adclr-wgpu info`: the report and the model presets' sizes, as one JSON object on one line
/// (the convention of every command that reports: info, bench, tune, eval; `jq .` shows it
/// indented).
pub fn run(device: super::device_args::DeviceArgs) -> Result<()> {
    let overrides = super::environment::overrides();
    let tuning_file = super::environment::tuning_file();
    let mut report = adapter_report(&super::choice(&device)?, overrides, tuning_file.as_deref())?;
    let presets: serde_json::Map<String, serde_json::Value> = crate::spec::config::PRESETS
        .iter()
        .filter_map(|&p| crate::model::ModelConfig::preset(p).ok().map(|m| (p.to_string(), json!(m.summary()))))
        .collect();
    report["presets"] = serde_json::Value::Object(presets);
    println!("{report}");
    Ok(())
}
