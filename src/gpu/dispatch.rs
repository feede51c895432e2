//! A dispatch: a kernel with its bind group, parameter block and grid, built once and
//! recorded into any number of command encoders without allocating.

use super::context::GpuContext;
use super::kernels::{Kernel, Kernels};
use super::tensor::GpuTensor;
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

pub struct Dispatch {
    pub kernel: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    pub workgroups: [u32; 3],
}

/// Threads per workgroup of the 1-D and per-row kernels.
pub const WORKGROUP: u32 = 256;

/// A grid covering `n` items at `per_group` items per workgroup, folded into x and y so
/// no dimension exceeds the 65535 every device supports. Shaders linearise it as
/// `wg.y * num_workgroups.x + wg.x`.
pub fn grid_1d(n: usize, per_group: u32) -> [u32; 3] {
    let groups = (n as u64).div_ceil(per_group as u64).max(1);
    let x = groups.min(65535);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

/// One workgroup per row.
pub fn grid_rows(rows: usize) -> [u32; 3] {
    grid_1d(rows, 1)
}

/// Uniform parameters: 4-byte words (u32 or f32 bits), padded to 16 bytes.
pub fn params_bytes(words: &[u32]) -> Vec<u8> {
    let mut w = words.to_vec();
    while w.is_empty() || !w.len().is_multiple_of(4) {
        w.push(0);
    }
    bytemuck::cast_slice(&w).to_vec()
}

impl Dispatch {
    /// Builds the bind group for `tensors` (bindings 1..) and a parameter block.
    /// Fails with an error naming the tensor when one exceeds the device's binding limit.
    pub fn new(
        ctx: &GpuContext,
        kernels: &Kernels,
        kernel: &'static str,
        params: &[u32],
        tensors: &[&GpuTensor],
        workgroups: [u32; 3],
    ) -> Result<Self> {
        let k: &Kernel = kernels.get(kernel)?;
        if tensors.len() != k.bindings.len() {
            return Err(Error::Gpu(format!(
                "kernel `{kernel}` takes {} buffers, got {}",
                k.bindings.len(),
                tensors.len()
            )));
        }
        let limit = ctx.limits.max_storage_buffer_binding_size;
        for t in tensors.iter().filter(|t| !t.placeholder) {
            if t.bytes() > limit {
                return Err(Error::BindingTooLarge { name: t.name.clone(), bytes: t.bytes(), limit });
            }
        }
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
        if let Some(&g) = workgroups.iter().find(|&&g| g > max_groups) {
            return Err(Error::TooManyWorkgroups { kernel, groups: g as u64, limit: max_groups });
        }
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let params = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(kernel),
            contents: &params_bytes(params),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() }];
        for (i, t) in tensors.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: t.binding() });
        }
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &k.layout,
            entries: &entries,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("binding the buffers of `{kernel}` failed: {err}")));
        }
        Ok(Self { kernel: k.name, pipeline: k.pipeline.clone(), bind_group, params, workgroups })
    }

    /// Rewrites the parameter block (e.g. a scheduled learning rate); takes effect at the
    /// next submit, so call it before submitting the encoder that records this dispatch.
    pub fn set_params(&self, ctx: &GpuContext, params: &[u32]) {
        ctx.queue.write_buffer(&self.params, 0, &params_bytes(params));
    }

    pub fn record_into(&self, pass: &mut wgpu::ComputePass<'_>) {
        if self.workgroups.contains(&0) {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups[0], self.workgroups[1], self.workgroups[2]);
    }
}

/// Records `dispatches` in order into one compute pass of `encoder` (wgpu orders them).
pub fn record(encoder: &mut wgpu::CommandEncoder, dispatches: &[&Dispatch]) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
    for d in dispatches {
        d.record_into(&mut pass);
    }
}

/// Records and submits `dispatches` as one submit, then waits for them.
pub fn run(ctx: &GpuContext, dispatches: &[&Dispatch]) -> Result<()> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    record(&mut encoder, dispatches);
    ctx.queue.submit([encoder.finish()]);
    ctx.wait()
}
