//! Every shader, every entry point and every override value the runtime can build, translated
//! by naga's back-ends for each wgpu backend: SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and
//! GLSL ES 3.1 (GL), after validation with the capabilities that backend offers. Nothing here
//! needs a device: a kernel that only Vulkan accepts fails here, before the first Mac runs it.
//!
//! Subgroup kernels need subgroup operations, which wgpu's GL backend does not offer: they are
//! excluded there, and the runtime never builds them on it (kernels are compiled only where the
//! device has `Features::SUBGROUP`, and `choice::eight_lane_subgroups` needs it too), so GL
//! falls back to the register-blocked matmul and the non-subgroup attention kernels. The f16
//! kernels likewise (`Features::SHADER_F16`, which GL lacks).

use adclr_wgpu::gpu::kernels::{ShaderFile, SHADER_FILES};
use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{Module, ShaderStage};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

const BACKENDS: [Backend; 4] = [Backend::Vulkan, Backend::Metal, Backend::Dx12, Backend::Gl];

impl Backend {
    /// What the backend offers our kernels: subgroups and f16 on Vulkan 1.1+, Metal 2.1+ (MSL
    /// 2.4 here) and DX12 (subgroups from shader model 6.0, f16 from 6.2, the model used here);
    /// neither on GL (wgpu's GL backend has no SHADER_F16); cooperative matrices on Vulkan
    /// (VK_KHR_cooperative_matrix) and Metal (simdgroup matrices), not DX12 or GL.
    fn capabilities(self) -> Capabilities {
        match self {
            Backend::Gl => Capabilities::empty(),
            Backend::Dx12 => Capabilities::SUBGROUP | Capabilities::SHADER_FLOAT16,
            _ => Capabilities::SUBGROUP | Capabilities::SHADER_FLOAT16 | Capabilities::COOPERATIVE_MATRIX,
        }
    }
}

/// The override values the runtime compiles each file with: none (no kernel has override
/// constants today; one that gains them must list its values here).
fn override_variants(file: &ShaderFile, source: &str) -> Vec<Vec<(&'static str, f64)>> {
    assert!(!source.contains("override "), "{}.wgsl has overrides the test does not cover", file.name);
    vec![vec![]]
}

/// One entry point with its override values, as the back-end of `backend` writes it.
fn translate(
    backend: Backend,
    module: &Module,
    info: &ModuleInfo,
    entry: &str,
    constants: &[(&str, f64)],
) -> Result<String, String> {
    let mut pc = naga::back::PipelineConstants::default();
    for &(name, value) in constants {
        pc.insert(name.to_string(), value);
    }
    let ep = Some((ShaderStage::Compute, entry));
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(module, info, ep, &pc).map_err(|e| format!("{e:?}"))?;
    let (module, info) = (module.as_ref(), info.as_ref());
    let entry_point = entry.to_string();
    match backend {
        Backend::Vulkan => {
            let options = spv::Options { lang_version: (1, 3), ..Default::default() };
            let pipeline = spv::PipelineOptions { shader_stage: ShaderStage::Compute, entry_point };
            let words = spv::write_vec(module, info, &options, Some(&pipeline)).map_err(|e| format!("{e:?}"))?;
            Ok(format!("{} SPIR-V words", words.len()))
        }
        Backend::Metal => {
            let options = msl::Options { lang_version: (2, 4), fake_missing_bindings: true, ..Default::default() };
            let pipeline =
                msl::PipelineOptions { entry_point: Some((ShaderStage::Compute, entry_point)), ..Default::default() };
            msl::write_string(module, info, &options, &pipeline).map(|(s, _)| s).map_err(|e| format!("{e:?}"))
        }
        Backend::Dx12 => {
            let options = hlsl::Options { shader_model: hlsl::ShaderModel::V6_2, ..Default::default() };
            let pipeline = hlsl::PipelineOptions { entry_point: Some((ShaderStage::Compute, entry_point)) };
            let mut out = String::new();
            hlsl::Writer::new(&mut out, &options, &pipeline).write(module, info, None).map_err(|e| format!("{e:?}"))?;
            Ok(out)
        }
        Backend::Gl => {
            let options = glsl::Options { version: glsl::Version::new_gles(310), ..Default::default() };
            let pipeline = glsl::PipelineOptions { shader_stage: ShaderStage::Compute, entry_point, multiview: None };
            let mut out = String::new();
            let policies = naga::proc::BoundsCheckPolicies::default();
            glsl::Writer::new(&mut out, module, info, &options, &pipeline, policies)
                .and_then(|mut w| w.write())
                .map_err(|e| format!("{e:?}"))?;
            Ok(out)
        }
    }
}

#[test]
fn every_kernel_variant_translates_for_every_backend_that_may_build_it() {
    let mut built = 0;
    let mut failures = Vec::new();
    for file in SHADER_FILES {
        let source = file.expanded().expect("imports resolve");
        let module = naga::front::wgsl::parse_str(&source).expect("parses (shaders_validate checks this)");
        for backend in BACKENDS {
            // A subgroup kernel is excluded where the backend has no subgroups (the runtime
            // never builds it there).
            if file.subgroups && !backend.capabilities().contains(Capabilities::SUBGROUP) {
                continue;
            }
            // Likewise an f16 kernel where the backend has no f16, a cooperative-matrix one
            // where it has none.
            if file.f16 && !backend.capabilities().contains(Capabilities::SHADER_FLOAT16) {
                continue;
            }
            if file.coop > 0 && !backend.capabilities().contains(Capabilities::COOPERATIVE_MATRIX) {
                continue;
            }
            let info = match Validator::new(ValidationFlags::all(), backend.capabilities()).validate(&module) {
                Ok(info) => info,
                Err(e) => {
                    failures.push(format!("{}.wgsl on {backend:?}: {}", file.name, e.emit_to_string(&source)));
                    continue;
                }
            };
            for entry in file.entries {
                for constants in override_variants(file, &source) {
                    match translate(backend, &module, &info, entry, &constants) {
                        Ok(text) => {
                            assert!(!text.is_empty());
                            built += 1;
                        }
                        Err(e) => {
                            failures.push(format!("{}.wgsl `{entry}` {constants:?} on {backend:?}: {e}", file.name))
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} variants do not translate:\n{}", failures.len(), failures.join("\n"));
    // Every entry point once per backend (GL: all but the subgroup ones).
    let entries: usize = SHADER_FILES.iter().map(|f| f.entries.len()).sum();
    eprintln!("{built} translations of {entries} entry points for 4 backends");
    assert!(built > 3 * entries, "only {built} translations for {entries} entry points");
}

#[test]
fn subgroup_kernels_do_not_validate_without_subgroups() {
    // What the exclusion above rests on: without the capability, naga refuses them (so GL,
    // which has none, could not build them even if asked).
    let subgroup_files: Vec<_> = SHADER_FILES.iter().filter(|f| f.subgroups).collect();
    assert!(!subgroup_files.is_empty());
    for file in subgroup_files {
        let source = file.expanded().expect("imports resolve");
        let module = naga::front::wgsl::parse_str(&source).expect("parses");
        let refused = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module).is_err();
        assert!(refused, "{}.wgsl is marked as using subgroups but validates without them", file.name);
    }
}
