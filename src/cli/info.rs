//! `adclr-wgpu info`: adapters, the chosen one, and its limits.

use crate::error::Result;
use crate::gpu::context::{choose_adapter, list_adapters, AdapterChoice};
use serde_json::json;

/// The report as JSON (printed by the CLI).
pub fn adapter_report(choice: &AdapterChoice) -> Result<serde_json::Value> {
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
                "limits": {
                    "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
                    "max_buffer_size": limits.max_buffer_size,
                    "max_compute_workgroup_storage_size": limits.max_compute_workgroup_storage_size,
                    "max_compute_invocations_per_workgroup": limits.max_compute_invocations_per_workgroup,
                    "max_compute_workgroups_per_dimension": limits.max_compute_workgroups_per_dimension,
                    "max_storage_buffers_per_shader_stage": limits.max_storage_buffers_per_shader_stage,
                    "min_storage_buffer_offset_alignment": limits.min_storage_buffer_offset_alignment,
                },
                "subgroups": features.contains(wgpu::Features::SUBGROUP),
                "subgroup_min_size": info.subgroup_min_size,
                "subgroup_max_size": info.subgroup_max_size,
                "timestamp_query": features.contains(wgpu::Features::TIMESTAMP_QUERY),
                "shader_f16": features.contains(wgpu::Features::SHADER_F16),
            })
        })
        .collect();
    Ok(json!({ "chosen": chosen, "adapters": list }))
}

/// `adclr-wgpu info`: the report as pretty JSON.
pub fn run(device: super::args::DeviceArgs) -> Result<()> {
    let report = adapter_report(&super::choice(&device))?;
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}
