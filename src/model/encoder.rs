//! The backbone alone for inference (features, evaluation, attention maps): the teacher's
//! weights, images in, CLS features after the final norm out.

use super::backbone::{Group, GroupSpec};
use super::params::BackboneParams;
use super::params::ParamViews;
use super::state::Named;
use crate::error::{shape_error, Error, Result};
use crate::gpu::Alloc;
use crate::gpu::{Dispatch, Engine, GpuTensor};
use crate::ops::rows;
use crate::spec::config::{AdclrConfig, ModelConfig};
use crate::spec::params::{is_backbone, param_specs, ParamStore};

pub struct Encoder {
    pub model: ModelConfig,
    /// Images per forward.
    pub batch: usize,
    /// Side of the input images in pixels (the model's, or `at_side`'s).
    pub side: usize,
    pub group: Group,
    _params: Vec<GpuTensor>,
    cls: GpuTensor,
    forward: Vec<Dispatch>,
}

impl Encoder {
    pub fn new(e: &Engine, model: &ModelConfig, batch: usize, weights: &Named) -> Result<Self> {
        Self::with_queries(e, model, batch, 0, weights)
    }

    /// As `new`, for images of `side` pixels (a multiple of the patch size) instead of the
    /// model's: the positional embeddings interpolated to its patch grid, as for local crops.
    pub fn at_side(e: &Engine, model: &ModelConfig, batch: usize, side: usize, weights: &Named) -> Result<Self> {
        Self::sided(e, model, batch, (side, false), weights)
    }

    /// An encoder for images of `side` px, keeping every block's output or not.
    fn sided(
        e: &Engine,
        model: &ModelConfig,
        batch: usize,
        (side, keep): (usize, bool),
        weights: &Named,
    ) -> Result<Self> {
        if side == 0 || !side.is_multiple_of(model.patch_size) || side > crate::spec::config::MAX_SIDE {
            return Err(shape_error(
                "encoder",
                format!("a side of {side} px is not a multiple of the patch size {}", model.patch_size),
            ));
        }
        Self::build(e, model, batch, (0, side), keep, weights)
    }

    /// As `at_side`, keeping every block's output (the dense probe's patch features).
    pub fn at_side_with_block_outputs(
        e: &Engine,
        model: &ModelConfig,
        batch: usize,
        side: usize,
        weights: &Named,
    ) -> Result<Self> {
        Self::sided(e, model, batch, (side, true), weights)
    }

    /// As `new`, keeping every block's output (for the linear probe's features).
    pub fn with_block_outputs(e: &Engine, model: &ModelConfig, batch: usize, weights: &Named) -> Result<Self> {
        Self::build(e, model, batch, (0, model.image_size), true, weights)
    }

    /// As `new`, with `queries` query tokens per image behind the one-way mask (attention maps).
    pub fn with_queries(
        e: &Engine,
        model: &ModelConfig,
        batch: usize,
        queries: usize,
        weights: &Named,
    ) -> Result<Self> {
        Self::build(e, model, batch, (queries, model.image_size), false, weights)
    }

    fn build(
        e: &Engine,
        model: &ModelConfig,
        batch: usize,
        (queries, side): (usize, usize),
        keep_blocks: bool,
        weights: &Named,
    ) -> Result<Self> {
        let mut cfg = AdclrConfig::new(model.clone(), batch);
        cfg.queries = queries;
        cfg.lambda = 0.0;
        cfg.validate().map_err(|m| shape_error("encoder", m))?;
        let max_chunk = (e.ctx.limits.max_storage_buffer_binding_size / 4) as usize;
        let specs: Vec<_> = param_specs(model).into_iter().filter(|s| is_backbone(&s.name)).collect();
        let store = ParamStore::from_specs(specs, max_chunk).map_err(|m| shape_error("encoder", m))?;
        let mut al = Alloc::new(e);
        let flats = store.pack(weights).map_err(|m| Error::Checkpoint(format!("weights: {m}")))?;
        let mut params = Vec::new();
        for (i, f) in flats.iter().enumerate() {
            let t = al.tensor(&format!("encoder.params.{i}"), &[f.len()])?;
            t.write_f32(&e.ctx, f)?;
            params.push(t);
        }
        let mut views = ParamViews::new();
        for (i, s) in store.specs.iter().enumerate() {
            let (c, off) = store.offset(i);
            views.insert(s.name.clone(), params[c].view(&e.ctx, &s.name, off, &s.shape)?);
        }
        let spec =
            GroupSpec { name: "encoder", images: batch, side, queries, training: false, keep_blocks, share: None };
        let group = Group::new(&mut al, &cfg, &spec)?;
        group.drop.write_f32(&e.ctx, &vec![1.0; group.drop.len()])?;
        let cls = al.tensor("encoder.cls", &[batch, model.dim])?;
        let t = group.shape.tokens();
        let idx: Vec<u32> = (0..batch).map(|i| (i * t) as u32).collect();
        let index = al.u32s("encoder.cls_index", &idx)?;
        // Another side than the model's: the positional table interpolated to its grid.
        let pos_resize = match side == model.image_size {
            true => None,
            false => {
                let m: Vec<f32> =
                    crate::model::pos_embed::resize_matrix(model.grid(model.image_size), model.grid(side))
                        .iter()
                        .map(|&x| x as f32)
                        .collect();
                let t =
                    al.tensor("encoder.pos_resize", &[1 + model.patches(side), 1 + model.patches(model.image_size)])?;
                t.write_f32(&e.ctx, &m)?;
                Some(t)
            }
        };
        let backbone = BackboneParams::from_views(&views, model.depth)?;
        let mut forward = group.forward(e, &cfg, &backbone, pos_resize.as_ref())?;
        params.extend(pos_resize);
        forward.push(rows::gather(e, &group.normed, &index, &cls, model.dim, 0)?);
        params.push(index);
        Ok(Self { model: model.clone(), batch, side, group, _params: params, cls, forward })
    }

    /// The last block's qkv [T, 3, H, hd] of one image with its query crops (patch rows
    /// [N, CPP] and [Q, CPP]).
    pub fn last_block_qkv(&self, e: &Engine, patches: &[f32], query_patches: &[f32]) -> Result<Vec<f32>> {
        pollster::block_on(self.last_block_qkv_async(e, patches, query_patches))
    }

    /// `last_block_qkv` as a future.
    pub async fn last_block_qkv_async(&self, e: &Engine, patches: &[f32], query_patches: &[f32]) -> Result<Vec<f32>> {
        let g = &self.group;
        g.patch_rows.write_prefix_f32(&e.ctx, patches)?;
        if !query_patches.is_empty() {
            g.query_rows.write_prefix_f32(&e.ctx, query_patches)?;
        }
        e.run(&self.forward.iter().collect::<Vec<_>>())?;
        let qkv = g.blocks[0].qkv.read_f32_async(&e.ctx).await?;
        Ok(qkv[..g.shape.tokens() * 3 * self.model.dim].to_vec())
    }

    /// Runs the backbone on up to `batch` images given as patch rows; the outputs stay on the
    /// device for `block_output` and `final_normed`.
    pub fn run(&self, e: &Engine, patches: &[f32]) -> Result<()> {
        self.group.patch_rows.write_prefix_f32(&e.ctx, patches)?;
        e.run(&self.forward.iter().collect::<Vec<_>>())
    }

    /// As `run`, with query-token patch rows [images * Q, C*P*P] for an encoder made
    /// `with_queries` (behind the one-way mask: they read the images, nothing reads them).
    pub fn run_with_queries(&self, e: &Engine, patches: &[f32], query_patches: &[f32]) -> Result<()> {
        let g = &self.group;
        g.patch_rows.write_prefix_f32(&e.ctx, patches)?;
        g.query_rows.write_prefix_f32(&e.ctx, query_patches)?;
        e.run(&self.forward.iter().collect::<Vec<_>>())
    }

    /// Tokens per image in the outputs.
    pub fn tokens(&self) -> usize {
        self.group.shape.tokens()
    }

    /// The residual stream after block `l` (0: the embeddings), [batch * tokens, D]; needs an
    /// encoder made `with_block_outputs` for l < depth.
    pub fn block_output(&self, e: &Engine, l: usize) -> Result<Vec<f32>> {
        let x = self.group.xs.get(l).ok_or_else(|| shape_error("encoder", format!("no output of block {l}")))?;
        x.read_f32(&e.ctx)
    }

    /// The tokens after the final norm, [batch * tokens, D].
    pub fn final_normed(&self, e: &Engine) -> Result<Vec<f32>> {
        self.group.normed.read_f32(&e.ctx)
    }

    /// CLS features after the final norm, [images, D], for up to `batch` images given as
    /// patch rows [images * N, C*P*P].
    pub fn encode(&self, e: &Engine, patches: &[f32]) -> Result<Vec<f32>> {
        pollster::block_on(self.encode_async(e, patches))
    }

    /// `encode` as a future.
    pub async fn encode_async(&self, e: &Engine, patches: &[f32]) -> Result<Vec<f32>> {
        let n = self.images_in(patches)?;
        let rows = &self.group.patch_rows;
        rows.write_prefix_f32(&e.ctx, patches)?;
        e.run(&self.forward.iter().collect::<Vec<_>>())?;
        let mut out = self.cls.read_f32_async(&e.ctx).await?;
        out.truncate(n * self.model.dim);
        Ok(out)
    }

    /// One forward, both outputs after the final norm: CLS [images, D] and the patch tokens
    /// [images, N, D] (N = the patch grid of `side`, row-major), for up to `batch` images given
    /// as patch rows [images * N, C*P*P].
    pub fn encode_with_patches(&self, e: &Engine, patches: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = self.images_in(patches)?;
        self.run(e, patches)?;
        let normed = self.final_normed(e)?;
        let (t, d, np) = (self.tokens(), self.model.dim, self.model.patches(self.side));
        let (mut cls, mut out) = (Vec::with_capacity(n * d), Vec::with_capacity(n * np * d));
        for i in 0..n {
            // Tokens per image: CLS, the N patches, the query tokens.
            cls.extend_from_slice(&normed[i * t * d..(i * t + 1) * d]);
            out.extend_from_slice(&normed[(i * t + 1) * d..(i * t + 1 + np) * d]);
        }
        Ok((cls, out))
    }

    /// Images in patch rows [images * N, C*P*P], or an error unless 1..=batch whole images.
    fn images_in(&self, patches: &[f32]) -> Result<usize> {
        let per = self.model.patches(self.side) * self.model.patch_len();
        let n = patches.len() / per.max(1);
        if n == 0 || n > self.batch || n * per != patches.len() {
            return Err(shape_error(
                "encoder",
                format!("{} patch values are not 1..={} images of {per}", patches.len(), self.batch),
            ));
        }
        Ok(n)
    }
}
