//! Every compute pipeline, created once at start-up from the WGSL files in `shaders/`.
//!
//! Binding convention for every kernel: `@binding(0)` is a uniform block of 4-byte
//! parameters, `@binding(1..)` are storage buffers whose access modes are listed here, or
//! textures a bound tensor is copied into (`Access::Texture`, see `texture`).

use super::context::GpuContext;
use super::entry;
use super::tensor::GpuTensor;
use super::texture::OperandTextures;
use crate::error::{Error, Result};
use std::collections::HashMap;

/// Access mode of one storage binding, as the WGSL declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    /// A `texture_2d<f32>` (rgba32float) holding a copy of the bound tensor.
    Texture,
}

use Access::{Read as R, ReadWrite as W, Texture as T};

/// One WGSL file: its name, source and the entry points it exports with their bindings.
pub struct ShaderFile {
    pub name: &'static str,
    pub source: &'static str,
    pub entries: &'static [&'static str],
    pub bindings: &'static [Access],
    /// Uses subgroup operations: compiled only on devices with Features::SUBGROUP.
    pub subgroups: bool,
    /// Uses f16 (`enable f16;`): compiled only on devices with Features::SHADER_F16.
    pub f16: bool,
    /// Built without naga's runtime checks (bounds checks on every index, loop bounding) and
    /// without zeroing workgroup memory: only for files whose kernels clamp every index
    /// themselves, write workgroup memory before reading it, and bound every loop by
    /// parameters; `tests/gpu/matmul.rs` runs them on operands followed by NaN and outputs
    /// followed by sentinels.
    pub trusted: bool,
    /// Uses cooperative matrices of this size (S x S x S, f16 x f16 -> f32; 0: none):
    /// compiled only where `GpuContext::coop_sizes` lists it.
    pub coop: u32,
}

/// The subgroups a 64-invocation cooperative-matrix attention workgroup may hold at matrix
/// size S (MAX_SG of attention_coop8_*.wgsl / attention_coop16_*.wgsl: their per-subgroup
/// workgroup memory, 24 KiB at 8 and 18 KiB at 16): the launcher runs them only where
/// subgroups hold at least 64 / that many lanes (8 at S = 8, 32 at S = 16).
pub const fn coop_attention_max_subgroups(size: u32) -> u32 {
    if size <= 8 {
        8
    } else {
        2
    }
}

macro_rules! shader {
    ($name:literal, [$($entry:expr),* $(,)?], [$($acc:expr),*]) => {
        shader!($name, [$($entry),*], [$($acc),*], false)
    };
    ($name:literal, [$($entry:expr),* $(,)?], [$($acc:expr),*], $subgroups:expr) => {
        ShaderFile {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
            entries: &[$($entry),*],
            bindings: &[$($acc),*],
            subgroups: $subgroups,
            f16: false,
            trusted: false,
            coop: 0,
        }
    };
}

/// All shader files of the engine, each with the storage bindings (1..) that all its entry
/// points share. Tests parse and validate each with naga.
pub const SHADER_FILES: &[ShaderFile] = &[
    // a, b, bias, c, aux
    shader!("matmul", [entry::MATMUL], [R, R, R, W, W]),
    // a, b (vec4), bias, c, a (vec4), aux; trusted (see its header)
    ShaderFile {
        trusted: true,
        ..shader!(
            "matmul_tiles",
            [entry::MATMUL_TILES_NT, entry::MATMUL_TILES_NN, entry::MATMUL_TILES_TN],
            [R, R, R, W, R, W]
        )
    },
    // as matmul_tiles on 64 x 128 and 128 x 64 tiles; trusted
    ShaderFile {
        trusted: true,
        ..shader!(
            "matmul_tiles_wide",
            [entry::MATMUL_TILES_WIDE_NT, entry::MATMUL_TILES_WIDE_NN, entry::MATMUL_TILES_WIDE_TN],
            [R, R, R, W, R, W]
        )
    },
    ShaderFile {
        trusted: true,
        ..shader!(
            "matmul_tiles_tall",
            [entry::MATMUL_TILES_TALL_NT, entry::MATMUL_TILES_TALL_NN, entry::MATMUL_TILES_TALL_TN],
            [R, R, R, W, R, W]
        )
    },
    // as matmul_tiles, operands rounded to f16 in workgroup memory; needs SHADER_F16
    ShaderFile {
        trusted: true,
        f16: true,
        ..shader!(
            "matmul_tiles_f16",
            [entry::MATMUL_TILES_F16_NT, entry::MATMUL_TILES_F16_NN, entry::MATMUL_TILES_F16_TN],
            [R, R, R, W, R, W]
        )
    },
    // a, b (vec4), bias, c, a (vec4), aux
    shader!(
        "matmul_vec4",
        [entry::MATMUL_NT, entry::MATMUL_NN, entry::MATMUL_NN_K4, entry::MATMUL_TN],
        [R, R, R, W, R, W]
    ),
    // as matmul_vec4, then a and b again as textures; needs 8-lane subgroups
    shader!(
        "matmul_subgroup",
        [entry::MATMUL_SG_NT, entry::MATMUL_SG_NN, entry::MATMUL_SG_TN],
        [R, R, R, W, R, W, T, T],
        true
    ),
    // as matmul_subgroup (the same body, lib/matmul_subgroup_body.wgsl), operands rounded to
    // f16 as loaded (generated with it)
    shader!(
        "matmul_subgroup_f16",
        [entry::MATMUL_SG_F16_NT, entry::MATMUL_SG_F16_NN, entry::MATMUL_SG_F16_TN],
        [R, R, R, W, R, W, T, T],
        true
    ),
    // as matmul (strided f32 operands), on cooperative matrices of 8x8x8 or 16x16x16: f16
    // operands staged in workgroup memory, f32 accumulation
    ShaderFile { f16: true, coop: 8, ..shader!("matmul_coop8", [entry::MATMUL_COOP8], [R, R, R, W, W], true) },
    ShaderFile { f16: true, coop: 16, ..shader!("matmul_coop16", [entry::MATMUL_COOP16], [R, R, R, W, W], true) },
    // src, dst
    shader!("reduce", [entry::COLUMN_SUM, entry::COLUMN_SUM_CHUNKS], [R, W]),
    // x, y, out
    shader!("elementwise", [entry::ADD_SCALED, entry::SCALE, entry::FILL], [R, R, W]),
    // x, w, b, y, mean, rstd
    shader!("layernorm_forward", [entry::LAYERNORM_FORWARD, entry::LAYERNORM_FORWARD_ROWWISE], [R, R, R, W, W, W]),
    // x, w, mean, rstd, dy, dx, dw, db
    shader!(
        "layernorm_backward",
        [
            entry::LAYERNORM_BACKWARD_INPUT,
            entry::LAYERNORM_BACKWARD_PARAMS,
            entry::LAYERNORM_BACKWARD_PARAMS_CHUNKS,
            entry::LAYERNORM_BACKWARD_INPUT_ROWWISE
        ],
        [R, R, R, R, R, W, W, W]
    ),
    // x, y
    shader!("softmax_forward", [entry::SOFTMAX_FORWARD], [R, W]),
    // y, dy, dx
    shader!("softmax_backward", [entry::SOFTMAX_BACKWARD], [R, R, W]),
    // x, y
    shader!("gelu_forward", [entry::GELU_FORWARD], [R, W]),
    // x, dy, dx
    shader!("gelu_backward", [entry::GELU_BACKWARD], [R, R, W]),
    // qkv, out, lse
    shader!("attention_forward", [entry::ATTENTION_FORWARD], [R, W, W]),
    // qkv, out, lse, dout, dqkv
    shader!(
        "attention_backward",
        [entry::ATTENTION_BACKWARD_QUERY, entry::ATTENTION_BACKWARD_KEY_VALUE],
        [R, R, R, R, W]
    ),
    // as attention_forward / attention_backward, head_dim 64, shared-memory tiles (GPUs)
    shader!("attention_tiled_forward", [entry::ATTENTION_FORWARD_TILED], [R, W, W]),
    shader!(
        "attention_tiled_backward",
        [entry::ATTENTION_BACKWARD_QUERY_TILED, entry::ATTENTION_BACKWARD_KEY_VALUE_TILED],
        [R, R, R, R, W]
    ),
    // as attention_forward / attention_backward, head_dim 64, four lanes per row (GPUs with
    // subgroups)
    shader!("attention_quad_forward", [entry::ATTENTION_FORWARD_QUAD], [R, W, W], true),
    shader!(
        "attention_quad_backward",
        [entry::ATTENTION_BACKWARD_QUERY_QUAD, entry::ATTENTION_BACKWARD_KEY_VALUE_QUAD],
        [R, R, R, R, W],
        true
    ),
    // as attention_quad_forward / attention_quad_backward with q, k, v and dO rounded to f16
    // (staged in f16); needs SHADER_F16
    ShaderFile {
        f16: true,
        ..shader!("attention_quad_forward_f16", [entry::ATTENTION_FORWARD_QUAD_F16], [R, W, W], true)
    },
    ShaderFile {
        f16: true,
        ..shader!(
            "attention_quad_backward_f16",
            [entry::ATTENTION_BACKWARD_QUERY_QUAD_F16, entry::ATTENTION_BACKWARD_KEY_VALUE_QUAD_F16],
            [R, R, R, R, W],
            true
        )
    },
    // as attention_forward / attention_backward on cooperative matrices (head_dim 64, q, k, v,
    // dO, P and dS as f16 operands); need the size in the adapter's list
    ShaderFile {
        f16: true,
        coop: 8,
        ..shader!("attention_coop8_forward", [entry::ATTENTION_FORWARD_COOP8], [R, W, W], true)
    },
    ShaderFile {
        f16: true,
        coop: 8,
        ..shader!(
            "attention_coop8_backward",
            [entry::ATTENTION_BACKWARD_QUERY_COOP8, entry::ATTENTION_BACKWARD_KEY_VALUE_COOP8],
            [R, R, R, R, W],
            true
        )
    },
    ShaderFile {
        f16: true,
        coop: 16,
        ..shader!("attention_coop16_forward", [entry::ATTENTION_FORWARD_COOP16], [R, W, W], true)
    },
    ShaderFile {
        f16: true,
        coop: 16,
        ..shader!(
            "attention_coop16_backward",
            [entry::ATTENTION_BACKWARD_QUERY_COOP16, entry::ATTENTION_BACKWARD_KEY_VALUE_COOP16],
            [R, R, R, R, W],
            true
        )
    },
    // as attention_forward / attention_backward, then qkv (forward), qkv, out and dout
    // (backward) again as textures; need 8-lane subgroups
    shader!("attention_subgroup_forward", [entry::ATTENTION_FORWARD_SG], [R, W, W, T], true),
    shader!(
        "attention_subgroup_backward",
        [entry::ATTENTION_BACKWARD_QUERY_SG, entry::ATTENTION_BACKWARD_KEY_VALUE_SG],
        [R, R, R, R, W, T, T, T],
        true
    ),
    // x, y, norm
    shader!("l2norm_forward", [entry::L2NORM_FORWARD], [R, W, W]),
    // y, norm, dy, dx
    shader!("l2norm_backward", [entry::L2NORM_BACKWARD], [R, R, R, W]),
    // g, v, w, vnorm
    shader!("weight_norm_forward", [entry::WEIGHT_NORM_FORWARD, entry::WEIGHT_NORM_FORWARD_ROWWISE], [R, R, W, W]),
    // g, v, vnorm, dw, dg, dv
    shader!(
        "weight_norm_backward",
        [entry::WEIGHT_NORM_BACKWARD, entry::WEIGHT_NORM_BACKWARD_ROWWISE],
        [R, R, R, R, W, W]
    ),
    // teacher, centre, pairs, teacher_probs, student logits, row_loss, loss, grad_student
    shader!(
        "dino_loss_forward",
        [entry::DINO_TEACHER_PROBS, entry::DINO_STUDENT_LOSS_GRAD, entry::DINO_LOSS_MEAN],
        [R, R, R, W, R, W, W, W]
    ),
    // teacher, health, centre
    shader!("dino_center", [entry::DINO_CENTER_UPDATE], [R, R, W]),
    // segments, blocks, grads, block_sumsq, clip, loss scale state, skipped steps
    shader!(
        "optim_grad_clip",
        [entry::GRAD_BLOCK_SUMSQ, entry::GRAD_BLOCK_SUMSQ_ROWWISE, entry::GRAD_CLIP_SCALE],
        [R, R, R, W, W, R, R]
    ),
    // segments, blocks, clip, grads, health, params, m, v
    shader!("optim_adamw", [entry::ADAMW_STEP], [R, R, R, R, R, W, W, W]),
    // student, health, teacher
    shader!("optim_ema", [entry::EMA_UPDATE], [R, R, W]),
    // values, health
    shader!("health", [entry::HEALTH_CHECK], [R, W]),
    // state, health, values, segments, skipped
    shader!(
        "loss_scale",
        [entry::LOSS_SCALE_APPLY, entry::LOSS_SCALE_COUNT_SKIPS, entry::LOSS_SCALE_UPDATE],
        [W, W, W, R, W]
    ),
    // a, b, c, d, out0, out1
    shader!(
        "tokens",
        [entry::TOKENS_ASSEMBLE, entry::TOKENS_SPLIT_GRAD, entry::TOKENS_POSITION_GRAD],
        [R, R, R, R, W, W]
    ),
    // src, index, dst
    shader!("rows", [entry::GATHER_ROWS, entry::SCATTER_ROWS], [R, R, W]),
    // x, branch, scale, out
    shader!("residual", [entry::RESIDUAL_ADD, entry::RESIDUAL_BRANCH_GRAD], [R, R, R, W]),
    // x, branch, scale, w, b, out, y, mean, rstd (9 storage buffers: compiled where allowed)
    shader!(
        "residual_layernorm",
        [entry::RESIDUAL_LAYERNORM, entry::RESIDUAL_LAYERNORM_ROWWISE],
        [R, R, R, R, R, W, W, W, W]
    ),
];

/// Shared WGSL snippets a shader pulls in with a `// #import NAME` line.
pub const SHADER_LIBRARY: &[(&str, &str)] = &[
    ("workgroup_reduce", include_str!("../../shaders/lib/workgroup_reduce.wgsl")),
    ("erf", include_str!("../../shaders/lib/erf.wgsl")),
    ("attention_common", include_str!("../../shaders/lib/attention_common.wgsl")),
    ("matmul_params", include_str!("../../shaders/lib/matmul_params.wgsl")),
    ("matmul_common", include_str!("../../shaders/lib/matmul_common.wgsl")),
    ("matmul_strided", include_str!("../../shaders/lib/matmul_strided.wgsl")),
    ("matmul_epilogue", include_str!("../../shaders/lib/matmul_epilogue.wgsl")),
    ("matmul_tiles_body", include_str!("../../shaders/lib/matmul_tiles_body.wgsl")),
    ("matmul_subgroup_body", include_str!("../../shaders/lib/matmul_subgroup_body.wgsl")),
    ("attention_subgroup", include_str!("../../shaders/lib/attention_subgroup.wgsl")),
    ("attention_blocks", include_str!("../../shaders/lib/attention_blocks.wgsl")),
    ("attention_tiles", include_str!("../../shaders/lib/attention_tiles.wgsl")),
    ("attention_quads", include_str!("../../shaders/lib/attention_quads.wgsl")),
    ("attention_quad_forward_body", include_str!("../../shaders/lib/attention_quad_forward_body.wgsl")),
    ("attention_quad_backward_body", include_str!("../../shaders/lib/attention_quad_backward_body.wgsl")),
    ("operand_texture", include_str!("../../shaders/lib/operand_texture.wgsl")),
    ("f16_round", include_str!("../../shaders/lib/f16_round.wgsl")),
    ("matmul_coop_body", include_str!("../../shaders/lib/matmul_coop_body.wgsl")),
    ("attention_coop", include_str!("../../shaders/lib/attention_coop.wgsl")),
    ("attention_coop_forward_body", include_str!("../../shaders/lib/attention_coop_forward_body.wgsl")),
    ("attention_coop_backward_body", include_str!("../../shaders/lib/attention_coop_backward_body.wgsl")),
];

impl ShaderFile {
    /// Kernels a device may lack (subgroups, f16, more than 8 storage buffers): compiled
    /// where possible, with fallbacks in their launchers.
    pub fn optional(&self) -> bool {
        self.subgroups || self.f16 || self.coop > 0 || self.storage_buffers() > 8
    }

    /// Bindings that are storage buffers (the device limits how many a kernel may use).
    pub fn storage_buffers(&self) -> usize {
        self.bindings.iter().filter(|a| **a != Access::Texture).count()
    }

    /// The WGSL with every `// #import NAME` line replaced by that library snippet (snippets
    /// may import others; each is included once).
    pub fn expanded(&self) -> Result<String> {
        let mut out = String::with_capacity(self.source.len() + 4096);
        let mut included = Vec::new();
        self.expand_into(self.source, &mut included, &mut out, 0)?;
        Ok(out)
    }

    fn expand_into(&self, source: &str, included: &mut Vec<String>, out: &mut String, depth: usize) -> Result<()> {
        if depth > 8 {
            return Err(Error::Gpu(format!("shader `{}`: imports nest too deep", self.name)));
        }
        for line in source.lines() {
            if let Some(name) = line.trim().strip_prefix("// #import ") {
                let name = name.trim();
                let snippet = SHADER_LIBRARY
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| Error::Gpu(format!("shader `{}` imports unknown `{name}`", self.name)))?;
                if !included.iter().any(|n| n == name) {
                    included.push(name.to_string());
                    self.expand_into(snippet.1, included, out, depth + 1)?;
                }
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// A compiled compute pipeline and the layout its bind groups must follow.
pub struct Kernel {
    pub name: &'static str,
    /// The shader file (stem) it comes from, whose `Params` its parameter block mirrors.
    pub file: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub bindings: &'static [Access],
}

/// The registry of every pipeline, created once.
pub struct Kernels {
    by_name: HashMap<&'static str, Kernel>,
    /// Optional files this device could run but whose compiler rejected them, with the error
    /// (their launchers fall back). A required file's rejection fails `new` instead, so an
    /// empty list means every file usable here compiled: how a browser's Tint is checked.
    pub rejected: Vec<(&'static str, String)>,
    /// A one-element buffer bound where an entry point ignores a binding of its file.
    pub dummy: GpuTensor,
    /// The same for ignored read-write bindings (a buffer may not be bound both ways).
    pub dummy_rw: GpuTensor,
    /// Where tensors bound to `Access::Texture` bindings are copied.
    pub textures: OperandTextures,
}

fn layout_entries(bindings: &[Access]) -> Vec<wgpu::BindGroupLayoutEntry> {
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }];
    for (i, access) in bindings.iter().enumerate() {
        let ty = match access {
            Access::Texture => wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            _ => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: *access == Access::Read },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
        };
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: i as u32 + 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        });
    }
    entries
}

impl Kernels {
    /// Compiles every shader file the device can run.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        pollster::block_on(Self::new_async(ctx))
    }

    /// `new` as a future: the compile errors are awaited (a browser's error scopes resolve
    /// in its event loop).
    pub async fn new_async(ctx: &GpuContext) -> Result<Self> {
        let mut by_name = HashMap::new();
        let max_buffers = ctx.limits.max_storage_buffers_per_shader_stage as usize;
        let usable = |f: &&ShaderFile| {
            (ctx.subgroups || !f.subgroups)
                && (ctx.shader_f16 || !f.f16)
                && (f.coop == 0 || ctx.coop_sizes.contains(&f.coop))
                && f.storage_buffers() <= max_buffers
        };
        // Files every device must compile, in one error scope: a failure there is fatal.
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        for file in SHADER_FILES.iter().filter(usable).filter(|f| !f.optional()) {
            by_name.extend(Self::compile(ctx, file)?);
        }
        if let Some(err) = scope.pop().await {
            return Err(Error::Gpu(format!("creating the compute pipelines failed: {err}")));
        }
        // Optional files (subgroups, f16, more storage buffers) each in their own scope: a driver
        // that rejects one loses that kernel and its launcher falls back.
        let mut rejected = Vec::new();
        for file in SHADER_FILES.iter().filter(usable).filter(|f| f.optional()) {
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let kernels = Self::compile(ctx, file)?;
            match scope.pop().await {
                None => by_name.extend(kernels),
                Some(err) => {
                    eprintln!("note: {} is not used on {}: {err}", file.name, ctx.describe());
                    rejected.push((file.name, err.to_string()));
                }
            }
        }
        let dummy = GpuTensor::zeros(ctx, "unused binding", &[1])?;
        let dummy_rw = GpuTensor::zeros(ctx, "unused read-write binding", &[1])?;
        Ok(Self { by_name, rejected, dummy, dummy_rw, textures: OperandTextures::new(ctx) })
    }

    fn compile(ctx: &GpuContext, file: &ShaderFile) -> Result<Vec<(&'static str, Kernel)>> {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(file.name),
            source: wgpu::ShaderSource::Wgsl(file.expanded()?.into()),
        };
        let module = match file.trusted {
            // SAFETY: a trusted file's kernels clamp every storage index into the extent of
            // the operand the launcher checked against its binding, index workgroup arrays with
            // indices below their sizes, and run loops bounded by their parameters (the
            // file's header says how); the platform's own robustness, where it has one, stays.
            true => unsafe { ctx.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) },
            false => ctx.device.create_shader_module(desc),
        };
        let bindings = file.bindings;
        let mut out = Vec::with_capacity(file.entries.len());
        for entry in file.entries {
            let layout = ctx.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry),
                entries: &layout_entries(bindings),
            });
            let pipeline_layout = ctx.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    zero_initialize_workgroup_memory: !file.trusted,
                    ..Default::default()
                },
                cache: None,
            });
            out.push((*entry, Kernel { name: entry, file: file.name, pipeline, layout, bindings }));
        }
        Ok(out)
    }

    /// Whether `name` was compiled (files needing subgroups or more storage buffers than the
    /// device allows are skipped; their launchers fall back to unfused kernels).
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<&Kernel> {
        self.by_name.get(name).ok_or_else(|| Error::Gpu(format!("no kernel named `{name}`")))
    }
}
