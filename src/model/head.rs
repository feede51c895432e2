//! The DINO head on the GPU: MLP D -> H -> H -> bottleneck with GELU, L2 normalisation,
//! weight-normalised last layer (no bias) -> K logits. Shared by CLS and query rows.

use super::params::HeadParams;
use crate::error::Result;
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor};
use crate::ops::linear::{self, Linear};
use crate::ops::matmul;
use crate::ops::{l2norm, weight_norm};
use crate::spec::config::ModelConfig;

pub struct HeadGrads {
    /// [rows, K] gradient of the logits, written by the loss terms.
    pub d_logits: GpuTensor,
    pub d_zn: GpuTensor,
    pub d_z: GpuTensor,
    /// [K, bottleneck] gradient of the normalised last-layer weight.
    pub d_w_last: GpuTensor,
    /// [rows, H] two buffers for the MLP chain.
    pub d_a: GpuTensor,
    pub d_b: GpuTensor,
    /// [rows, D] gradient of the head's input rows.
    pub d_input: GpuTensor,
}

pub struct Head {
    pub rows: usize,
    /// [rows, D] gathered CLS / query outputs of the backbone.
    pub input: GpuTensor,
    pub a1: GpuTensor,
    pub g1: GpuTensor,
    pub a2: GpuTensor,
    pub g2: GpuTensor,
    /// [rows, bottleneck] before and after L2 normalisation, [rows] norms.
    pub z: GpuTensor,
    pub zn: GpuTensor,
    pub z_norm: GpuTensor,
    /// [K, bottleneck] g v / ||v||, [K] ||v||.
    pub w_last: GpuTensor,
    pub v_norm: GpuTensor,
    /// [rows, K]
    pub logits: GpuTensor,
    pub grads: Option<HeadGrads>,
}

impl Head {
    pub fn new(al: &mut Alloc, c: &ModelConfig, name: &str, rows: usize, training: bool) -> Result<Self> {
        let (d, h, bn, k) = (c.dim, c.head_hidden, c.head_bottleneck, c.out_dim);
        let mut t = |what: &str, shp: &[usize]| al.tensor(&format!("{name}.{what}"), shp);
        let grads = if training {
            Some(HeadGrads {
                d_logits: t("d_logits", &[rows, k])?,
                d_zn: t("d_zn", &[rows, bn])?,
                d_z: t("d_z", &[rows, bn])?,
                d_w_last: t("d_w_last", &[k, bn])?,
                d_a: t("d_a", &[rows, h])?,
                d_b: t("d_b", &[rows, h])?,
                d_input: t("d_input", &[rows, d])?,
            })
        } else {
            None
        };
        Ok(Self {
            rows,
            input: t("input", &[rows, d])?,
            a1: t("a1", &[rows, h])?,
            g1: t("g1", &[rows, h])?,
            a2: t("a2", &[rows, h])?,
            g2: t("g2", &[rows, h])?,
            z: t("z", &[rows, bn])?,
            zn: t("zn", &[rows, bn])?,
            z_norm: t("z_norm", &[rows])?,
            w_last: t("w_last", &[k, bn])?,
            v_norm: t("v_norm", &[k])?,
            logits: t("logits", &[rows, k])?,
            grads,
        })
    }

    pub fn forward(&self, e: &Engine, c: &ModelConfig, p: &HeadParams) -> Result<Vec<Dispatch>> {
        let r = self.rows;
        let last = Linear { weight: self.w_last.clone(), bias: None };
        Ok(vec![
            linear::forward_gelu(e, &self.input, &p.mlp[0], (&self.a1, &self.g1), r)?,
            linear::forward_gelu(e, &self.g1, &p.mlp[1], (&self.a2, &self.g2), r)?,
            linear::forward(e, &self.g2, &p.mlp[2], &self.z, r)?,
            l2norm::forward(e, &self.z, &self.zn, &self.z_norm, c.head_bottleneck)?,
            weight_norm::forward(e, &p.last_g, &p.last_v, &self.w_last, &self.v_norm)?,
            linear::forward(e, &self.zn, &last, &self.logits, r)?,
        ])
    }

    /// From `grads.d_logits` to `grads.d_input`, adding parameter gradients into `g`.
    pub fn backward(&self, e: &Engine, c: &ModelConfig, p: &HeadParams, g: &HeadParams) -> Result<Vec<Dispatch>> {
        let hg = self.grads.as_ref().ok_or_else(|| crate::Error::Gpu("backward through an inference head".into()))?;
        let (bn, k, r) = (c.head_bottleneck, c.out_dim, self.rows);
        let s = linear::shape(r, bn, k);
        let (d_zn, d_w) = (Some(&hg.d_zn), Some(&hg.d_w_last));
        let mut out = matmul::backward(e, &s, &self.zn, &self.w_last, &hg.d_logits, d_zn, d_w, None, 1.0, false)?;
        let (v_norm, d_w_last) = (&self.v_norm, &hg.d_w_last);
        out.push(weight_norm::backward(e, &p.last_g, &p.last_v, v_norm, d_w_last, &g.last_g, &g.last_v)?);
        out.push(l2norm::backward(e, &self.zn, &self.z_norm, &hg.d_zn, &hg.d_z, bn)?);
        // d_b = gradient at a2 (through the second GELU), then d_a at a1 (through the first).
        out.extend(linear::backward_through_gelu(e, (&self.g2, &self.a2), &p.mlp[2], &hg.d_z, &hg.d_b, &g.mlp[2], r)?);
        out.extend(linear::backward_through_gelu(e, (&self.g1, &self.a1), &p.mlp[1], &hg.d_b, &hg.d_a, &g.mlp[1], r)?);
        out.extend(linear::backward(e, &self.input, &p.mlp[0], &hg.d_a, Some(&hg.d_input), &g.mlp[0], r)?);
        Ok(out)
    }
}
