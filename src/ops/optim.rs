//! Per-tensor clipping, AdamW and the EMA teacher over flat parameter buffers.
//!
//! Kernel variants: the per-block sums of squares run a workgroup per block
//! (`grad_block_sumsq`, a workgroup per row) or an invocation per block (`grad_block_sumsq_rowwise`,
//! CPU drivers); the clip scales, AdamW and the EMA have one variant each.

use super::expect_len;
use super::loss_scale::LossScale;
use crate::error::{shape_error, Result};
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{bits, grid_1d, grid_rows, Alloc, Dispatch, Engine, GpuTensor};
pub use crate::reference::optim::{AdamW, Segment};

pub use crate::spec::flat::{FlatLayout, ALIGN, BLOCK};

shader_params! {
    pub struct GradClipParams for ["optim_grad_clip"] {
        n_blocks: u32, n_segments: u32, max_norm: f32, beta1: f32, beta2: f32, _p0: u32, _p1: u32, _p2: u32,
    }
}
shader_params! {
    pub struct AdamWParams for ["optim_adamw"] {
        n_blocks: u32, _p0: u32, _p1: u32, _p2: u32,
        lr: f32, weight_decay: f32, beta1: f32, beta2: f32,
        eps: f32, _p3: u32, _p4: u32, _p5: u32,
    }
}
shader_params! {
    pub struct EmaParams for ["optim_ema"] { n: u32, momentum: f32, _p0: u32, _p1: u32 }
}

/// The segment table: [offset, len, first_block, n_blocks, decay, lr_scale, bc1, bc2] each.
fn segment_table(layout: &FlatLayout, opt: &AdamW) -> Vec<u32> {
    let (_, ranges) = layout.blocks();
    let mut table = Vec::with_capacity(layout.segments.len() * 8);
    for (s, (first, count)) in layout.segments.iter().zip(ranges) {
        let step = s.step.max(1) as i32;
        let bc1 = 1.0 - opt.beta1.powi(step);
        let bc2 = 1.0 - opt.beta2.powi(step);
        table.extend_from_slice(&[
            s.offset as u32,
            s.len as u32,
            first,
            count,
            s.decay as u32,
            bits(s.lr_scale as f32),
            bits(bc1 as f32),
            bits(bc2 as f32),
        ]);
    }
    table
}

/// Clipping and AdamW for one flat parameter set, built once.
pub struct Optimizer {
    pub segments_table: GpuTensor,
    pub blocks_table: GpuTensor,
    /// [n_blocks] partial sums of squared gradients.
    pub block_sumsq: GpuTensor,
    /// [n_segments, 4] of each tensor: clip scale / loss scale, gradient norm (unscaled),
    /// the two bias corrections AdamW uses.
    pub clip: GpuTensor,
    /// [n_segments] u32: steps each tensor skipped (dynamic loss scaling), which its bias
    /// corrections and its checkpointed step count leave out.
    pub skipped: GpuTensor,
    pub n_blocks: usize,
    /// Block sums of squares, clip scales, AdamW.
    pub dispatches: Vec<Dispatch>,
    /// Counts a skipped step into `skipped` (after the step's updates).
    pub count_skips: Dispatch,
}

impl Optimizer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        al: &mut Alloc,
        layout: &FlatLayout,
        opt: &AdamW,
        max_norm: f32,
        grads: &GpuTensor,
        params: &GpuTensor,
        m: &GpuTensor,
        v: &GpuTensor,
        health: &GpuTensor,
        loss_scale: &LossScale,
    ) -> Result<Self> {
        for t in [grads, params, m, v] {
            expect_len("adamw", t, layout.total)?;
        }
        if layout.segments.is_empty() {
            return Err(shape_error("adamw", "no parameter tensors"));
        }
        let (blocks, _) = layout.blocks();
        let n_blocks = blocks.len() / 4;
        let n_seg = layout.segments.len();
        let segments_table = al.u32s("optimizer.segments", &segment_table(layout, opt))?;
        let blocks_table = al.u32s("optimizer.blocks", &blocks)?;
        let block_sumsq = al.tensor("optimizer.block_sumsq", &[n_blocks])?;
        let clip = al.tensor("optimizer.clip", &[n_seg, 4])?;
        let skipped = al.u32s("optimizer.skipped", &vec![0; n_seg])?;
        let e = al.e;
        let cparams = GradClipParams {
            n_blocks: n_blocks as u32,
            n_segments: n_seg as u32,
            max_norm,
            beta1: opt.beta1 as f32,
            beta2: opt.beta2 as f32,
            ..Default::default()
        };
        let cbufs = [&segments_table, &blocks_table, grads, &block_sumsq, &clip, &loss_scale.state, &skipped];
        // A workgroup per block on GPUs, an invocation per block on CPU drivers.
        let sumsq = if e.rows_per_invocation() {
            e.dispatch(entry::GRAD_BLOCK_SUMSQ_ROWWISE, &cparams, &cbufs, grid_1d(n_blocks, 64))?
        } else {
            e.dispatch(entry::GRAD_BLOCK_SUMSQ, &cparams, &cbufs, grid_rows(n_blocks))?
        };
        let dispatches = vec![
            sumsq,
            e.dispatch(entry::GRAD_CLIP_SCALE, &cparams, &cbufs, grid_1d(n_seg, 64))?,
            e.dispatch(
                entry::ADAMW_STEP,
                &adamw_params(n_blocks, opt),
                &[&segments_table, &blocks_table, &clip, grads, health, params, m, v],
                grid_rows(n_blocks),
            )?,
        ];
        let count_skips = loss_scale.count_skips(e, &segments_table, &skipped, health)?;
        Ok(Self { segments_table, blocks_table, block_sumsq, clip, skipped, n_blocks, dispatches, count_skips })
    }

    /// Steps each tensor skipped (read back).
    pub fn skipped_steps(&self, e: &Engine) -> Result<Vec<u32>> {
        self.skipped.read_u32(&e.ctx)
    }

    /// Forgets the skipped steps (a state loaded whose step counts already leave them out).
    pub fn clear_skips(&self, e: &Engine) {
        let zeros = vec![0u32; self.skipped.len()];
        e.ctx.queue.write_buffer(&self.skipped.buffer, self.skipped.offset, bytemuck::cast_slice(&zeros));
    }

    /// Writes this step's hyper-parameters and per-tensor steps / lr scales (before submit);
    /// the betas stay those given to `new`.
    pub fn set_step(&self, e: &Engine, layout: &FlatLayout, opt: &AdamW) -> Result<()> {
        e.ctx.queue.write_buffer(
            &self.segments_table.buffer,
            self.segments_table.offset,
            bytemuck::cast_slice(&segment_table(layout, opt)),
        );
        self.dispatches[2].set_params(&e.ctx, &adamw_params(self.n_blocks, opt))
    }
}

fn adamw_params(n_blocks: usize, o: &AdamW) -> AdamWParams {
    AdamWParams {
        n_blocks: n_blocks as u32,
        lr: o.lr as f32,
        weight_decay: o.weight_decay as f32,
        beta1: o.beta1 as f32,
        beta2: o.beta2 as f32,
        eps: o.eps as f32,
        ..Default::default()
    }
}

/// teacher <- momentum teacher + (1 - momentum) student (skipped once health is bad).
pub fn ema(
    e: &Engine,
    student: &GpuTensor,
    teacher: &GpuTensor,
    health: &GpuTensor,
    momentum: f32,
) -> Result<Dispatch> {
    let n = teacher.len();
    expect_len("ema_update", student, n)?;
    e.dispatch(entry::EMA_UPDATE, &ema_params(n, momentum), &[student, health, teacher], grid_1d(n, 256))
}

/// The parameter block of `ema` (for a scheduled momentum via `Dispatch::set_params`).
pub fn ema_params(n: usize, momentum: f32) -> EmaParams {
    EmaParams { n: n as u32, momentum, ..Default::default() }
}
