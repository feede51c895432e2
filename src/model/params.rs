//! The model's parameters as typed views into the flat buffers, built once from the named
//! views: the timm names appear here (and where checkpoints are read and written), nowhere
//! in the forward or backward code. Gradients have the same types.

use crate::error::{Error, Result};
use crate::gpu::GpuTensor;
use crate::ops::layernorm::Norm;
use crate::ops::linear::Linear;
pub use crate::spec::params::*;
use std::collections::HashMap;

/// Named views of one flat parameter (or gradient) set.
pub type ParamViews = HashMap<String, GpuTensor>;

fn get(v: &ParamViews, name: &str) -> Result<GpuTensor> {
    v.get(name).cloned().ok_or_else(|| Error::Gpu(format!("no parameter view `{name}`")))
}

fn linear(v: &ParamViews, prefix: &str) -> Result<Linear> {
    Ok(Linear { weight: get(v, &format!("{prefix}.weight"))?, bias: Some(get(v, &format!("{prefix}.bias"))?) })
}

fn norm(v: &ParamViews, prefix: &str) -> Result<Norm> {
    Ok(Norm { weight: get(v, &format!("{prefix}.weight"))?, bias: get(v, &format!("{prefix}.bias"))? })
}

/// Patch embedding and the tokens added to it.
pub struct EmbedParams {
    /// [D, C P P] and [D]: patches (and query crops) to tokens.
    pub patch: Linear,
    /// [1, 1, D]
    pub cls_token: GpuTensor,
    /// [1, 1 + N, D] at the global view's grid.
    pub pos_embed: GpuTensor,
}

/// One transformer block.
pub struct BlockParams {
    /// [D] each
    pub norm1: Norm,
    /// [3D, D]
    pub qkv: Linear,
    /// [D, D]
    pub proj: Linear,
    pub norm2: Norm,
    /// [4D, D]
    pub fc1: Linear,
    /// [D, 4D]
    pub fc2: Linear,
}

/// The ViT backbone.
pub struct BackboneParams {
    pub embed: EmbedParams,
    pub blocks: Vec<BlockParams>,
    /// [D] the final norm.
    pub norm: Norm,
}

impl BackboneParams {
    pub fn from_views(v: &ParamViews, depth: usize) -> Result<Self> {
        let embed = EmbedParams {
            patch: linear(v, "patch_embed.proj")?,
            cls_token: get(v, "cls_token")?,
            pos_embed: get(v, "pos_embed")?,
        };
        let blocks = (0..depth)
            .map(|l| {
                let b = |n: &str| format!("blocks.{l}.{n}");
                Ok(BlockParams {
                    norm1: norm(v, &b("norm1"))?,
                    qkv: linear(v, &b("attn.qkv"))?,
                    proj: linear(v, &b("attn.proj"))?,
                    norm2: norm(v, &b("norm2"))?,
                    fc1: linear(v, &b("mlp.fc1"))?,
                    fc2: linear(v, &b("mlp.fc2"))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { embed, blocks, norm: norm(v, "norm")? })
    }
}

/// DINO's projection head: three linear layers (GELU between), then the weight-normed last layer.
pub struct HeadParams {
    /// [hidden, D], [hidden, hidden], [bottleneck, hidden]
    pub mlp: [Linear; 3],
    /// [K, 1] and [K, bottleneck]: the last layer's weight = g v / |v| per row.
    pub last_g: GpuTensor,
    pub last_v: GpuTensor,
}

impl HeadParams {
    pub fn from_views(v: &ParamViews) -> Result<Self> {
        Ok(Self {
            mlp: [linear(v, "head.mlp.0")?, linear(v, "head.mlp.2")?, linear(v, "head.mlp.4")?],
            last_g: get(v, "head.last_layer.weight_g")?,
            last_v: get(v, "head.last_layer.weight_v")?,
        })
    }
}
