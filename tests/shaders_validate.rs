//! Every shader file parses and validates with naga, without a device.

use adclr_wgpu::gpu::kernels::{ShaderFile, SHADER_FILES};

#[test]
fn every_shader_parses_and_validates() {
    assert!(SHADER_FILES.len() >= 20);
    for file in SHADER_FILES {
        let source = file.expanded().expect("imports resolve");
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}.wgsl does not parse:\n{}", file.name, e.emit_to_string(&source)));
        // Only files marked as using subgroups, f16 or cooperative matrices may use them.
        let mut caps = naga::valid::Capabilities::empty();
        caps.set(naga::valid::Capabilities::SUBGROUP, file.subgroups);
        caps.set(naga::valid::Capabilities::SHADER_FLOAT16, file.f16);
        caps.set(naga::valid::Capabilities::COOPERATIVE_MATRIX, file.coop > 0);
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

fn parse(file: &ShaderFile) -> naga::Module {
    let source = file.expanded().expect("imports resolve");
    naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{}.wgsl: {}", file.name, e.emit_to_string(&source)))
}

/// The uniform block at @binding(0): (field name, scalar type, byte offset) and the size.
fn wgsl_params(module: &naga::Module) -> (Vec<(String, &'static str, u32)>, u32) {
    let var = module
        .global_variables
        .iter()
        .map(|(_, v)| v)
        .find(|v| v.space == naga::AddressSpace::Uniform && v.binding.as_ref().is_some_and(|b| b.binding == 0))
        .expect("a uniform block at @binding(0)");
    let naga::TypeInner::Struct { members, span } = &module.types[var.ty].inner else {
        panic!("Params is not a struct")
    };
    let fields = members
        .iter()
        .map(|m| {
            let ty = match module.types[m.ty].inner {
                naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Uint, width: 4 }) => "u32",
                naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Float, width: 4 }) => "f32",
                ref other => panic!("unexpected Params member type {other:?}"),
            };
            (m.name.clone().unwrap_or_default(), ty, m.offset)
        })
        .collect();
    (fields, *span)
}

/// Each shader file's `Params` equals, field for field, the Rust block declared for it
/// (names, types, offsets, size), and each file has exactly one.
#[test]
fn every_parameter_block_mirrors_its_wgsl_params() {
    let blocks = adclr_wgpu::ops::parameter_blocks();
    for file in SHADER_FILES {
        let mine: Vec<_> = blocks.iter().filter(|b| b.shaders.contains(&file.name)).collect();
        assert_eq!(mine.len(), 1, "{}.wgsl needs exactly one Rust parameter block, has {:?}", file.name, mine);
        let block = mine[0];
        let (fields, span) = wgsl_params(&parse(file));
        let want: Vec<(String, &str, u32)> =
            block.fields.iter().enumerate().map(|(i, (n, t))| (n.to_string(), *t, 4 * i as u32)).collect();
        assert_eq!(fields, want, "{}.wgsl's Params against {}", file.name, block.name);
        assert_eq!(span as usize, block.size, "{}.wgsl's Params size against {}", file.name, block.name);
    }
    for block in &blocks {
        for shader in block.shaders {
            assert!(SHADER_FILES.iter().any(|f| f.name == *shader), "{} names unknown shader {shader}", block.name);
        }
    }
}

/// Flag bits, modes and rows per workgroup that launchers assume have the WGSL's values.
#[test]
fn launcher_constants_match_the_wgsl() {
    for (file, name, value) in adclr_wgpu::ops::shader_constants() {
        let f = SHADER_FILES.iter().find(|f| f.name == file).unwrap_or_else(|| panic!("no shader {file}"));
        let module = parse(f);
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{file}.wgsl has no constant {name}"));
        let wgsl = match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref other => panic!("{file}.wgsl: {name} is not a u32 literal after evaluation: {other:?}"),
        };
        assert_eq!(wgsl, value, "{file}.wgsl: {name}");
    }
}

/// Generated shaders are what their generator writes: `lib/matmul_subgroup_body.wgsl` and its
/// two entry files `matmul_subgroup.wgsl` and `matmul_subgroup_f16.wgsl` from
/// scripts/gen-matmul-subgroup.py (a change to any of them without the script fails here).
#[test]
fn generated_shaders_match_their_generator() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("python3")
        .args(["scripts/gen-matmul-subgroup.py", "--check"])
        .current_dir(root)
        .output()
        .expect("python3 runs the shader generators (apt-get install python3-minimal)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The check can fail: a changed copy of the shader is told apart.
    let dir = std::env::temp_dir().join(format!("adclr-gen-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("shaders/lib")).unwrap();
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(format!("{root}/scripts/gen-matmul-subgroup.py"), dir.join("scripts/gen-matmul-subgroup.py"))
        .unwrap();
    let files = ["lib/matmul_subgroup_body", "matmul_subgroup", "matmul_subgroup_f16"];
    for changed in files {
        for f in files {
            let text = std::fs::read_to_string(format!("{root}/shaders/{f}.wgsl")).unwrap();
            let text = if f == changed { text.replacen("fn ", "fn  ", 1) } else { text };
            std::fs::write(dir.join(format!("shaders/{f}.wgsl")), text).unwrap();
        }
        let drifted = std::process::Command::new("python3")
            .args(["scripts/gen-matmul-subgroup.py", "--check"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&drifted.stderr);
        assert!(!drifted.status.success() && stderr.contains(&format!("{changed}.wgsl differs")), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
