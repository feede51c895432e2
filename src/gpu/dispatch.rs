//! A dispatch: a kernel with its bind group, parameter block and grid, built once and
//! recorded into any number of command encoders without allocating.

use super::context::GpuContext;
use super::kernels::{Access, Kernel, Kernels};
use super::params::ShaderParams;
use super::tensor::GpuTensor;
use super::texture::TextureCopy;
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

pub struct Dispatch {
    pub kernel: &'static str,
    /// The shader file of the kernel (the parameter block must mirror its `Params`).
    file: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    pub workgroups: [u32; 3],
    /// Tensors bound as textures, copied in before the dispatch runs.
    copies: Vec<TextureCopy>,
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

/// Fails unless `P` mirrors the `Params` of `file` (a launcher passing another kernel's block).
fn check_params<P: ShaderParams>(kernel: &str, file: &str) -> Result<()> {
    if !P::SHADERS.contains(&file) {
        return Err(Error::Gpu(format!(
            "kernel `{kernel}` (shaders/{file}.wgsl) was given {}, the parameter block of {:?}",
            P::NAME,
            P::SHADERS
        )));
    }
    Ok(())
}

/// The error scope around a bind group's creation. Natively it is popped at once (blocking),
/// so a bad binding fails `Dispatch::new` with its name. A browser resolves a scope only in
/// its event loop, which a blocking wait would never reach: there no scope is pushed and a
/// bad binding reaches the device's uncaptured-error handler (the console) instead.
struct BindingScope {
    #[cfg(not(target_arch = "wasm32"))]
    guard: wgpu::ErrorScopeGuard,
}

impl BindingScope {
    #[cfg(not(target_arch = "wasm32"))]
    fn push(ctx: &GpuContext) -> Self {
        Self { guard: ctx.device.push_error_scope(wgpu::ErrorFilter::Validation) }
    }

    #[cfg(target_arch = "wasm32")]
    fn push(_ctx: &GpuContext) -> Self {
        Self {}
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn pop(self) -> Option<wgpu::Error> {
        pollster::block_on(self.guard.pop())
    }

    #[cfg(target_arch = "wasm32")]
    fn pop(self) -> Option<wgpu::Error> {
        None
    }
}

impl Dispatch {
    /// Builds the bind group for `tensors` (bindings 1..) and a parameter block; a tensor at
    /// a texture binding is bound through its slot's texture (`texture::OperandTextures`).
    /// Fails with an error naming the tensor when one exceeds the device's binding limit.
    pub fn new<P: ShaderParams>(
        ctx: &GpuContext,
        kernels: &Kernels,
        kernel: &'static str,
        params: &P,
        tensors: &[&GpuTensor],
        workgroups: [u32; 3],
    ) -> Result<Self> {
        let k: &Kernel = kernels.get(kernel)?;
        check_params::<P>(kernel, k.file)?;
        if tensors.len() != k.bindings.len() {
            return Err(Error::Gpu(format!(
                "kernel `{kernel}` takes {} buffers, got {}",
                k.bindings.len(),
                tensors.len()
            )));
        }
        let limit = ctx.limits.max_storage_buffer_binding_size;
        let buffers = tensors.iter().zip(k.bindings).filter(|(_, a)| **a != Access::Texture);
        for (t, _) in buffers.filter(|(t, _)| !t.placeholder) {
            if t.bytes() > limit {
                return Err(Error::BindingTooLarge { name: t.name.clone(), bytes: t.bytes(), limit });
            }
        }
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension;
        if let Some(&g) = workgroups.iter().find(|&&g| g > max_groups) {
            return Err(Error::TooManyWorkgroups { kernel, groups: g as u64, limit: max_groups });
        }
        let scope = BindingScope::push(ctx);
        let params = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(kernel),
            contents: bytemuck::bytes_of(params),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let mut views = Vec::new();
        let mut copies = Vec::new();
        for (i, t) in tensors.iter().enumerate().filter(|(i, _)| k.bindings[*i] == Access::Texture) {
            let (view, copy) = kernels.textures.bind(ctx, views.len(), t)?;
            views.push((i, view));
            copies.extend(copy);
        }
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() }];
        for (i, t) in tensors.iter().enumerate() {
            let resource = match views.iter().find(|(j, _)| *j == i) {
                Some((_, view)) => wgpu::BindingResource::TextureView(view),
                None => t.binding(),
            };
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource });
        }
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &k.layout,
            entries: &entries,
        });
        if let Some(err) = scope.pop() {
            return Err(Error::Gpu(format!("binding the buffers of `{kernel}` failed: {err}")));
        }
        Ok(Self { kernel: k.name, file: k.file, pipeline: k.pipeline.clone(), bind_group, params, workgroups, copies })
    }

    /// Rewrites the parameter block (e.g. a scheduled learning rate); takes effect at the
    /// next submit, so call it before submitting the encoder that records this dispatch.
    pub fn set_params<P: ShaderParams>(&self, ctx: &GpuContext, params: &P) -> Result<()> {
        check_params::<P>(self.kernel, self.file)?;
        ctx.queue.write_buffer(&self.params, 0, bytemuck::bytes_of(params));
        Ok(())
    }

    /// Records the copies of the tensors this dispatch reads as textures (outside any pass,
    /// right before the pass that runs it).
    pub fn record_copies(&self, encoder: &mut wgpu::CommandEncoder) {
        if self.workgroups.contains(&0) {
            return;
        }
        for copy in &self.copies {
            copy.record(encoder);
        }
    }

    /// Whether `record_copies` records anything.
    pub fn has_copies(&self) -> bool {
        !self.copies.is_empty() && !self.workgroups.contains(&0)
    }

    /// Records the dispatch into a pass (its copies must have been recorded before the pass).
    pub fn record_into(&self, pass: &mut wgpu::ComputePass<'_>) {
        if self.workgroups.contains(&0) {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups[0], self.workgroups[1], self.workgroups[2]);
    }
}

/// Records `dispatches` in order into `encoder` (wgpu orders them): compute passes, a new one
/// after the texture copies of each dispatch that has them.
pub fn record(encoder: &mut wgpu::CommandEncoder, dispatches: &[&Dispatch]) {
    let mut start = 0;
    while start < dispatches.len() {
        dispatches[start].record_copies(encoder);
        let end =
            dispatches[start + 1..].iter().position(|d| d.has_copies()).map_or(dispatches.len(), |i| start + 1 + i);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        for d in &dispatches[start..end] {
            d.record_into(&mut pass);
        }
        drop(pass);
        start = end;
    }
}

/// Records and submits `dispatches` as one submit, then waits for them.
pub fn run(ctx: &GpuContext, dispatches: &[&Dispatch]) -> Result<()> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    record(&mut encoder, dispatches);
    ctx.queue.submit([encoder.finish()]);
    ctx.wait()
}
