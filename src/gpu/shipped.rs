//! Which shader files have run, and been checked, on each family of hardware: CPU drivers
//! (lavapipe) and GPUs. A file is *shipped* on a family where it ran there against the CPU
//! reference (and, for a speed variant, was timed); elsewhere it is a *candidate*. The
//! built-in rule (`KernelChoice::rule`) picks only files shipped on the device's family at f32,
//! so a kernel no machine of that kind has executed is never a silent default; a candidate runs
//! only when asked for (a kernel variable, `adclr-wgpu tune`'s measurement on that adapter, or
//! `--precision f16-mixed` on a GPU, which prints a note naming its untried files).

use super::choice::{AttentionKernel, KernelChoice, MatmulKernel, Precision};

/// Where a file ran on one family of hardware, or that it has not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tried {
    /// Ran there against the CPU reference: where and when.
    Ran(&'static str),
    Untried,
}

/// The two families the rule tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardwareFamily {
    /// A CPU driver (lavapipe): `wgpu::DeviceType::Cpu`.
    CpuDriver,
    Gpu,
}

/// One shader file's record on each family.
#[derive(Clone, Copy, Debug)]
pub struct FileStatus {
    pub file: &'static str,
    pub cpu: Tried,
    pub gpu: Tried,
}

impl FileStatus {
    pub fn on(&self, family: HardwareFamily) -> Tried {
        match family {
            HardwareFamily::CpuDriver => self.cpu,
            HardwareFamily::Gpu => self.gpu,
        }
    }
}

/// Every kernel test of `.ci/run` (Mesa 22 lavapipe), against the CPU reference.
const LAVAPIPE: Tried = Tried::Ran("lavapipe (Mesa 22) in .ci/run, every kernel test against the CPU reference");
/// The f16 and cooperative-matrix tests of `.ci/run`'s Mesa 26 stage.
const LAVAPIPE_26: Tried =
    Tried::Ran("lavapipe (Mesa 26) in .ci/run's cooperative-matrix stage, against the CPU reference");
/// The test suite and the timed steps on the GPU machines of 2026-11-27
/// (docs/measurements.md, NVIDIA GPUs): the files that existed that day.
const GPU_2026_11_27: Tried = Tried::Ran(
    "NVIDIA H100 and H200 through Vulkan, 2026-11-27: the test suite and timed steps (docs/measurements.md)",
);

const fn both(file: &'static str) -> FileStatus {
    FileStatus { file, cpu: LAVAPIPE, gpu: GPU_2026_11_27 }
}

const fn cpu_only(file: &'static str, cpu: Tried) -> FileStatus {
    FileStatus { file, cpu, gpu: Tried::Untried }
}

/// Every file of `kernels::SHADER_FILES` (a test checks both lists agree).
pub const SHADER_STATUS: &[FileStatus] = &[
    both("matmul"),
    both("matmul_vec4"),
    // 8-lane subgroups: lavapipe's; no GPU of 2026-11-27 has them.
    cpu_only("matmul_subgroup", LAVAPIPE),
    // Written 2026-12-04, after the last GPU machine: checked on lavapipe, never timed on a GPU
    // (the 128 x 128 tiles of 2026-11-27 lost to the register blocks there, 1.59 against 3.57
    // TFLOP/s on the ViT-S qkv layer; these are their rewrite).
    cpu_only("matmul_tiles", LAVAPIPE),
    cpu_only("matmul_tiles_wide", LAVAPIPE),
    cpu_only("matmul_tiles_tall", LAVAPIPE),
    cpu_only("matmul_tiles_f16", LAVAPIPE_26),
    cpu_only("matmul_subgroup_f16", LAVAPIPE_26),
    cpu_only("matmul_coop8", LAVAPIPE_26),
    // Mesa 26 lavapipe lists 8 x 8 x 8 only: validated by naga, never executed.
    FileStatus { file: "matmul_coop16", cpu: Tried::Untried, gpu: Tried::Untried },
    both("attention_forward"),
    both("attention_backward"),
    both("attention_tiled_forward"),
    both("attention_tiled_backward"),
    cpu_only("attention_subgroup_forward", LAVAPIPE),
    cpu_only("attention_subgroup_backward", LAVAPIPE),
    both("attention_quad_forward"),
    both("attention_quad_backward"),
    cpu_only("attention_quad_forward_f16", LAVAPIPE_26),
    cpu_only("attention_quad_backward_f16", LAVAPIPE_26),
    cpu_only("attention_coop8_forward", LAVAPIPE_26),
    cpu_only("attention_coop8_backward", LAVAPIPE_26),
    FileStatus { file: "attention_coop16_forward", cpu: Tried::Untried, gpu: Tried::Untried },
    FileStatus { file: "attention_coop16_backward", cpu: Tried::Untried, gpu: Tried::Untried },
    cpu_only("loss_scale", LAVAPIPE_26),
    both("dino_center"),
    both("dino_loss_forward"),
    both("elementwise"),
    both("gelu_backward"),
    both("gelu_forward"),
    both("health"),
    both("l2norm_backward"),
    both("l2norm_forward"),
    both("layernorm_backward"),
    both("layernorm_forward"),
    both("optim_adamw"),
    both("optim_ema"),
    both("optim_grad_clip"),
    both("reduce"),
    both("residual"),
    both("residual_layernorm"),
    both("rows"),
    both("softmax_backward"),
    both("softmax_forward"),
    both("tokens"),
    both("weight_norm_backward"),
    both("weight_norm_forward"),
];

/// The record of `file`.
pub fn status(file: &str) -> Option<&'static FileStatus> {
    SHADER_STATUS.iter().find(|s| s.file == file)
}

/// Files that a choice's launchers dispatch beyond those every choice runs: per matmul and
/// attention variant and precision, with the fallbacks each takes for shapes it does not.
pub fn files_of(choice: &KernelChoice) -> Vec<&'static str> {
    let f16 = choice.precision == Precision::F16Mixed;
    let mut files: Vec<&'static str> = match choice.matmul {
        MatmulKernel::Strided => vec!["matmul"],
        MatmulKernel::Blocked => vec!["matmul_vec4", "matmul"],
        MatmulKernel::Tiles => vec!["matmul_tiles", "matmul_tiles_wide", "matmul_tiles_tall", "matmul"],
        MatmulKernel::Subgroup => vec!["matmul_subgroup", "matmul_vec4", "matmul"],
        MatmulKernel::Coop => vec!["matmul_coop8", "matmul_coop16", "matmul_vec4", "matmul"],
    };
    if f16 {
        files.push("loss_scale");
        match choice.matmul {
            MatmulKernel::Subgroup => files.push("matmul_subgroup_f16"),
            _ => files.push("matmul_tiles_f16"),
        }
    }
    let fallback = ["attention_forward", "attention_backward"];
    let attention: &[&'static str] = match (choice.attention, f16) {
        (AttentionKernel::PerRow, _) => &[],
        (AttentionKernel::Tiled, _) => &["attention_tiled_forward", "attention_tiled_backward"],
        (AttentionKernel::Subgroup, _) => &["attention_subgroup_forward", "attention_subgroup_backward"],
        (AttentionKernel::Quad, false) => &["attention_quad_forward", "attention_quad_backward"],
        (AttentionKernel::Quad, true) => &["attention_quad_forward_f16", "attention_quad_backward_f16"],
        (AttentionKernel::Coop, _) => &[
            "attention_coop8_forward",
            "attention_coop8_backward",
            "attention_coop16_forward",
            "attention_coop16_backward",
            "attention_quad_forward_f16",
            "attention_quad_backward_f16",
        ],
    };
    files.extend(attention.iter().chain(&fallback));
    files
}

/// The files of `choice` not yet run on `family`.
pub fn untried(choice: &KernelChoice, family: HardwareFamily) -> Vec<&'static str> {
    files_of(choice).into_iter().filter(|f| status(f).is_none_or(|s| s.on(family) == Tried::Untried)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::choice::RuleInputs;
    use crate::gpu::kernels::SHADER_FILES;

    #[test]
    fn every_shader_file_has_one_record_and_every_shipped_one_names_where_it_ran() {
        for file in SHADER_FILES {
            let n = SHADER_STATUS.iter().filter(|s| s.file == file.name).count();
            assert_eq!(n, 1, "{} has {n} records in SHADER_STATUS", file.name);
        }
        for s in SHADER_STATUS {
            assert!(SHADER_FILES.iter().any(|f| f.name == s.file), "{} is not a shader file", s.file);
            for tried in [s.cpu, s.gpu] {
                if let Tried::Ran(place) = tried {
                    assert!(place.len() > 20, "{}: say where it ran", s.file);
                }
            }
        }
        for choice_file in ["matmul_coop16", "attention_coop16_forward", "matmul_tiles"] {
            assert_eq!(status(choice_file).unwrap().gpu, Tried::Untried);
        }
    }

    /// The rule at f32 picks only files shipped on the device's family, on every kind of
    /// adapter it tells apart; under f16-mixed a GPU runs untried files, which `untried`
    /// names (the engine prints them).
    #[test]
    fn the_rule_never_picks_a_candidate() {
        for cpu in [true, false] {
            for eight_lane_subgroups in [true, false] {
                for quad_lanes in [true, false] {
                    let inputs = RuleInputs { cpu, eight_lane_subgroups, quad_lanes };
                    let family = if cpu { HardwareFamily::CpuDriver } else { HardwareFamily::Gpu };
                    let rule = KernelChoice::rule_for(inputs);
                    assert_eq!(rule.precision, Precision::F32);
                    assert_eq!(untried(&rule, family), Vec::<&str>::new(), "{inputs:?}: {rule:?}");
                    assert!(rule.matmul != MatmulKernel::Coop && rule.attention != AttentionKernel::Coop);
                    let f16 = KernelChoice { precision: Precision::F16Mixed, ..rule };
                    if !cpu {
                        assert!(untried(&f16, family).contains(&"matmul_tiles_f16"), "{f16:?}");
                    }
                }
            }
        }
        // Asked for, a candidate is named as one.
        let coop = KernelChoice {
            matmul: MatmulKernel::Coop,
            precision: Precision::F16Mixed,
            ..KernelChoice::rule_for(RuleInputs { cpu: false, eight_lane_subgroups: false, quad_lanes: true })
        };
        assert!(untried(&coop, HardwareFamily::CpuDriver).contains(&"matmul_coop16"));
    }
}
