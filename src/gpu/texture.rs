//! Operand textures: tensors copied into rgba32float textures for kernels that read them as
//! textures (`Access::Texture`), because CPU Vulkan drivers load a texture with vector loads
//! and a storage buffer, lane by lane (see shaders/lib/matmul_subgroup_body.wgsl).
//!
//! Texel i of a texture is vec4 number i of the tensor, at (i % TEXTURE_WIDTH, i /
//! TEXTURE_WIDTH). Each texture binding of a kernel file has one slot: a texture shared by
//! every dispatch that binds a tensor there, grown when a larger tensor comes. A dispatch
//! copies its tensor in right before it runs (`Dispatch::record_copies`), so sharing is safe
//! in any order of recording.

use super::context::GpuContext;
use super::tensor::GpuTensor;
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// Texels per texture row (shaders/lib/operand_texture.wgsl's TEXTURE_WIDTH): 64 KiB rows, a
/// multiple of the 256 bytes a buffer-to-texture copy needs per row.
pub const TEXTURE_WIDTH: u32 = 4096;
const TEXEL_BYTES: u64 = 16;

/// Texture rows a tensor of `floats` needs, or why it cannot be one: its length is not a
/// whole number of texels, its byte offset not a multiple of a texel, or it needs more rows
/// than `max_rows` (the device's largest 2D texture side).
pub fn texture_rows(floats: usize, byte_offset: u64, max_rows: u32) -> std::result::Result<u32, String> {
    if floats == 0 || !floats.is_multiple_of(4) {
        return Err(format!("{floats} floats are not a whole number of 4-float texels"));
    }
    if !byte_offset.is_multiple_of(TEXEL_BYTES) {
        return Err(format!("byte offset {byte_offset} is not a multiple of {TEXEL_BYTES}"));
    }
    let rows = (floats / 4).div_ceil(TEXTURE_WIDTH as usize);
    if rows > max_rows as usize {
        return Err(format!("{rows} rows of {TEXTURE_WIDTH} texels exceed the device's {max_rows}"));
    }
    Ok(rows as u32)
}

/// Whether `t` can be bound as an operand texture on this device.
pub fn fits(ctx: &GpuContext, t: &GpuTensor) -> bool {
    t.placeholder || texture_rows(t.len(), t.offset, ctx.limits.max_texture_dimension_2d).is_ok()
}

/// The copy of a tensor into its slot's texture that a dispatch records before it runs.
pub struct TextureCopy {
    buffer: Arc<wgpu::Buffer>,
    offset: u64,
    texels: u32,
    texture: wgpu::Texture,
}

impl TextureCopy {
    /// Records the copy: whole texture rows, then the last partial row.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        let full_rows = self.texels / TEXTURE_WIDTH;
        let rest = self.texels % TEXTURE_WIDTH;
        let layout = |offset| wgpu::TexelCopyBufferLayout {
            offset,
            bytes_per_row: Some(TEXTURE_WIDTH * TEXEL_BYTES as u32),
            rows_per_image: None,
        };
        let target = |y| wgpu::TexelCopyTextureInfo {
            texture: &self.texture,
            mip_level: 0,
            origin: wgpu::Origin3d { x: 0, y, z: 0 },
            aspect: wgpu::TextureAspect::All,
        };
        if full_rows > 0 {
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo { buffer: &self.buffer, layout: layout(self.offset) },
                target(0),
                wgpu::Extent3d { width: TEXTURE_WIDTH, height: full_rows, depth_or_array_layers: 1 },
            );
        }
        if rest > 0 {
            let offset = self.offset + full_rows as u64 * TEXTURE_WIDTH as u64 * TEXEL_BYTES;
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo { buffer: &self.buffer, layout: layout(offset) },
                target(full_rows),
                wgpu::Extent3d { width: rest, height: 1, depth_or_array_layers: 1 },
            );
        }
    }
}

/// One texture per texture binding slot, grown on demand (older dispatches keep the smaller
/// texture they were built with alive through their bind groups).
pub struct OperandTextures {
    slots: Mutex<Vec<Option<(wgpu::Texture, u32)>>>,
    /// Bound for placeholder tensors (plans: nothing is copied or run).
    placeholder: wgpu::Texture,
}

fn create(ctx: &GpuContext, rows: u32) -> wgpu::Texture {
    ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("operand texture"),
        size: wgpu::Extent3d { width: TEXTURE_WIDTH, height: rows, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

impl OperandTextures {
    pub fn new(ctx: &GpuContext) -> Self {
        Self { slots: Mutex::new(Vec::new()), placeholder: create(ctx, 1) }
    }

    /// The view to bind for `t` in texture slot `slot` and the copy that fills it (none for a
    /// placeholder). Fails, naming the tensor, where `fits` is false.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        slot: usize,
        t: &GpuTensor,
    ) -> Result<(wgpu::TextureView, Option<TextureCopy>)> {
        if t.placeholder {
            return Ok((self.placeholder.create_view(&Default::default()), None));
        }
        let rows = texture_rows(t.len(), t.offset, ctx.limits.max_texture_dimension_2d)
            .map_err(|why| Error::Gpu(format!("`{}` cannot be read as a texture: {why}", t.name)))?;
        let mut slots = self.slots.lock().map_err(|_| Error::Gpu("operand textures poisoned".into()))?;
        if slots.len() <= slot {
            slots.resize_with(slot + 1, || None);
        }
        let texture = match &slots[slot] {
            Some((texture, have)) if *have >= rows => texture.clone(),
            _ => {
                // Grow by at least half again, so a model's first few layers do not each
                // allocate a texture.
                let old = slots[slot].as_ref().map_or(0, |s| s.1);
                let rows = rows.max(old + old / 2).min(ctx.limits.max_texture_dimension_2d);
                let texture = create(ctx, rows);
                slots[slot] = Some((texture.clone(), rows));
                texture
            }
        };
        let copy = TextureCopy { buffer: t.buffer.clone(), offset: t.offset, texels: (t.len() / 4) as u32, texture };
        Ok((copy.texture.create_view(&Default::default()), Some(copy)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_rows_counts_partial_rows_and_refuses_what_no_texture_holds() {
        assert_eq!(texture_rows(4, 0, 16), Ok(1));
        assert_eq!(texture_rows(4 * 4096, 16, 16), Ok(1));
        assert_eq!(texture_rows(4 * 4097, 32, 16), Ok(2));
        assert_eq!(texture_rows(4 * 4096 * 16, 0, 16), Ok(16));
        assert!(texture_rows(4 * 4096 * 16 + 4, 0, 16).unwrap_err().contains("exceed"));
        assert!(texture_rows(6, 0, 16).unwrap_err().contains("whole number"));
        assert!(texture_rows(0, 0, 16).is_err());
        assert!(texture_rows(8, 4, 16).unwrap_err().contains("offset"));
    }
}
