//! GPU tensors: a shape and a range of a storage buffer (f32 or u32 elements).

use super::context::GpuContext;
use crate::error::{Error, Result};
use std::sync::Arc;

/// A dense row-major tensor living in (a range of) a storage buffer.
#[derive(Clone, Debug)]
pub struct GpuTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub buffer: Arc<wgpu::Buffer>,
    /// Byte offset into `buffer` (a multiple of the storage offset alignment).
    pub offset: u64,
    /// Planned but not allocated (a dry run): `buffer` is a 4-byte stand-in, writes are
    /// ignored and reads give zeros.
    pub placeholder: bool,
}

const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl GpuTensor {
    /// A zero-initialised tensor of 4-byte elements.
    pub fn zeros(ctx: &GpuContext, name: &str, shape: &[usize]) -> Result<Self> {
        // Zero-sized bindings are invalid: keep at least one element of storage.
        let bytes = (numel(shape).max(1) * 4) as u64;
        if bytes > ctx.limits.max_buffer_size {
            return Err(Error::BufferTooLarge { name: name.to_string(), bytes, limit: ctx.limits.max_buffer_size });
        }
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes,
            usage: USAGE,
            mapped_at_creation: false,
        });
        // Natively a buffer is Send + Sync; in a browser (wasm32, one thread) it is neither and
        // the Arc is only shared within that thread.
        #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
        let buffer = Arc::new(buffer);
        Ok(Self { name: name.to_string(), shape: shape.to_vec(), buffer, offset: 0, placeholder: false })
    }

    pub fn from_f32(ctx: &GpuContext, name: &str, shape: &[usize], data: &[f32]) -> Result<Self> {
        let t = Self::zeros(ctx, name, shape)?;
        t.write_f32(ctx, data)?;
        Ok(t)
    }

    /// A planned tensor of `shape` backed by the 4-byte `stand_in` (dry runs).
    pub fn placeholder(stand_in: &GpuTensor, name: &str, shape: &[usize]) -> Self {
        Self {
            name: name.to_string(),
            shape: shape.to_vec(),
            buffer: stand_in.buffer.clone(),
            offset: 0,
            placeholder: true,
        }
    }

    pub fn from_u32(ctx: &GpuContext, name: &str, shape: &[usize], data: &[u32]) -> Result<Self> {
        let t = Self::zeros(ctx, name, shape)?;
        t.check_len(data.len())?;
        if !t.placeholder {
            ctx.queue.write_buffer(&t.buffer, t.offset, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// A view of `shape` starting `start` elements into this tensor's storage.
    /// `start * 4` must be a multiple of the device's storage offset alignment.
    pub fn view(&self, ctx: &GpuContext, name: &str, start: usize, shape: &[usize]) -> Result<Self> {
        let align = ctx.limits.min_storage_buffer_offset_alignment as u64;
        let offset = self.offset + (start * 4) as u64;
        if !offset.is_multiple_of(align) {
            return Err(Error::Gpu(format!(
                "view `{name}` of `{}` starts at byte {offset}, not a multiple of {align}",
                self.name
            )));
        }
        if start + numel(shape) > self.len() {
            return Err(Error::Gpu(format!("view `{name}` runs past the end of `{}`", self.name)));
        }
        Ok(Self {
            name: name.to_string(),
            shape: shape.to_vec(),
            buffer: self.buffer.clone(),
            offset,
            placeholder: self.placeholder,
        })
    }

    pub fn len(&self) -> usize {
        numel(&self.shape)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes this tensor occupies in its binding (at least 4).
    pub fn bytes(&self) -> u64 {
        (self.len().max(1) * 4) as u64
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n != self.len() {
            return Err(Error::Gpu(format!(
                "tensor `{}` {:?} has {} elements, got {n}",
                self.name,
                self.shape,
                self.len()
            )));
        }
        Ok(())
    }

    pub fn write_f32(&self, ctx: &GpuContext, data: &[f32]) -> Result<()> {
        self.check_len(data.len())?;
        if !data.is_empty() && !self.placeholder {
            ctx.queue.write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Writes `data` over the first `data.len()` elements (a partial batch); an error, not a
    /// wgpu panic, when it does not fit.
    pub fn write_prefix_f32(&self, ctx: &GpuContext, data: &[f32]) -> Result<()> {
        if data.len() > self.len() {
            return Err(Error::Gpu(format!(
                "{} values do not fit tensor `{}` {:?}",
                data.len(),
                self.name,
                self.shape
            )));
        }
        if !data.is_empty() && !self.placeholder {
            ctx.queue.write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Reads the tensor back (waits for all submitted work).
    pub fn read_f32(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32_async(ctx))
    }

    /// `read_f32` as a future (what a browser awaits).
    pub async fn read_f32_async(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        if self.placeholder {
            return Ok(vec![0.0; self.len()]);
        }
        let bytes = read_bytes_async(ctx, &self.buffer, self.offset, self.bytes()).await?;
        let mut out: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        out.truncate(self.len());
        Ok(out)
    }

    /// Reads the tensor into `out` through `staging` (a [`Staging`] of at least this
    /// tensor's size, reused across calls): no buffer is created and the host copies once,
    /// from the mapped memory straight into `out` (waits for all submitted work).
    pub fn read_into(&self, ctx: &GpuContext, staging: &Staging, out: &mut [f32]) -> Result<()> {
        pollster::block_on(self.read_into_async(ctx, staging, out))
    }

    /// `read_into` as a future.
    pub async fn read_into_async(&self, ctx: &GpuContext, staging: &Staging, out: &mut [f32]) -> Result<()> {
        self.check_len(out.len())?;
        if self.placeholder || out.is_empty() {
            out.fill(0.0);
            return Ok(());
        }
        let size = 4 * out.len() as u64;
        if size > staging.buffer.size() {
            return Err(Error::Gpu(format!("tensor `{}` ({size} bytes) exceeds its staging buffer", self.name)));
        }
        copy_through(ctx, (&self.buffer, self.offset), &staging.buffer, bytemuck::cast_slice_mut::<f32, u8>(out)).await
    }

    /// Reads a u32 tensor back (waits for all submitted work).
    pub fn read_u32(&self, ctx: &GpuContext) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32_async(ctx))
    }

    /// `read_u32` as a future.
    pub async fn read_u32_async(&self, ctx: &GpuContext) -> Result<Vec<u32>> {
        let bytes = read_bytes_async(ctx, &self.buffer, self.offset, self.bytes()).await?;
        let mut out: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        out.truncate(self.len());
        Ok(out)
    }

    /// The binding resource for this tensor's range.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        if self.placeholder {
            return self.buffer.as_entire_binding();
        }
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.bytes()),
        })
    }
}

/// A host-readable buffer kept for repeated reads of tensors up to its size (the data-parallel
/// gradient exchange reads every chunk every step).
pub struct Staging {
    buffer: wgpu::Buffer,
}

impl Staging {
    pub fn new(ctx: &GpuContext, bytes: u64) -> Self {
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self { buffer }
    }
}

/// Copies `size` bytes at `offset` of `buffer` to the host through a staging buffer.
pub fn read_bytes(ctx: &GpuContext, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
    pollster::block_on(read_bytes_async(ctx, buffer, offset, size))
}

/// `read_bytes` as a future.
pub async fn read_bytes_async(ctx: &GpuContext, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut data = vec![0u8; size as usize];
    copy_through(ctx, (buffer, offset), &staging, &mut data).await?;
    Ok(data)
}

/// Copies `out.len()` bytes at `offset` of `source` into `out` through `staging` (MAP_READ,
/// at least that large): a copy on the GPU, a map, one copy on the host (waits for all
/// submitted work: natively by polling the device, in a browser by awaiting the map).
async fn copy_through(
    ctx: &GpuContext,
    (source, offset): (&wgpu::Buffer, u64),
    staging: &wgpu::Buffer,
    out: &mut [u8],
) -> Result<()> {
    let size = out.len() as u64;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(source, offset, staging, 0, size);
    ctx.queue.submit([encoder.finish()]);
    let slice = staging.slice(..size);
    let mapped = super::readback::map_read(&slice);
    // Natively this runs the map's callback; a browser's device ignores it.
    ctx.wait()?;
    mapped.await?;
    {
        let view = slice.get_mapped_range().map_err(|e| Error::Gpu(e.to_string()))?;
        out.copy_from_slice(&view[..]);
    }
    staging.unmap();
    Ok(())
}
