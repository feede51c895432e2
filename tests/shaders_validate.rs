//! Every shader file parses and validates with naga, without a device.

use adclr_wgpu::gpu::kernels::SHADER_FILES;

#[test]
fn every_shader_parses_and_validates() {
    assert!(SHADER_FILES.len() >= 20);
    for file in SHADER_FILES {
        let source = file.expanded().expect("imports resolve");
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}.wgsl does not parse:\n{}", file.name, e.emit_to_string(&source)));
        // Only files marked as using subgroups may use them.
        let caps =
            if file.subgroups { naga::valid::Capabilities::SUBGROUP } else { naga::valid::Capabilities::empty() };
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        validator
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}.wgsl does not validate:\n{}", file.name, e.emit_to_string(&source)));
        for entry in file.entries {
            assert!(
                module.entry_points.iter().any(|ep| ep.name == *entry),
                "{}.wgsl has no entry point `{entry}`",
                file.name
            );
        }
    }
}

#[test]
fn every_wgsl_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).expect("shaders/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            assert!(SHADER_FILES.iter().any(|f| f.name == stem), "{stem}.wgsl is not in SHADER_FILES");
        }
    }
}
