//! Per-kernel GPU time from timestamp queries, where the adapter offers them.

use super::context::GpuContext;
use super::dispatch::Dispatch;
use super::tensor::read_bytes;
use crate::error::{Error, Result};

/// Times each dispatch of a list in its own compute pass.
pub struct Profiler {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
}

impl Profiler {
    /// `None` when the device has no timestamp queries.
    pub fn new(ctx: &GpuContext, max_dispatches: u32) -> Option<Self> {
        if !ctx.timestamps || max_dispatches == 0 {
            return None;
        }
        let count = max_dispatches * 2;
        let query_set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp resolve"),
            size: count as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Self { query_set, resolve, capacity: max_dispatches })
    }

    /// Runs `dispatches` once, each in its own timed pass, and returns (kernel, GPU ns) pairs
    /// (a dispatch's texture copies run before its pass, outside its time).
    pub fn time(&self, ctx: &GpuContext, dispatches: &[&Dispatch]) -> Result<Vec<(&'static str, f64)>> {
        if dispatches.len() as u32 > self.capacity {
            return Err(Error::Gpu(format!(
                "profiler holds {} dispatches, asked to time {}",
                self.capacity,
                dispatches.len()
            )));
        }
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (i, d) in dispatches.iter().enumerate() {
            let i = i as u32;
            d.record_copies(&mut encoder);
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.kernel),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &self.query_set,
                    beginning_of_pass_write_index: Some(2 * i),
                    end_of_pass_write_index: Some(2 * i + 1),
                }),
            });
            d.record_into(&mut pass);
        }
        let n = dispatches.len() as u32 * 2;
        encoder.resolve_query_set(&self.query_set, 0..n, &self.resolve, 0);
        ctx.queue.submit([encoder.finish()]);
        let bytes = read_bytes(ctx, &self.resolve, 0, n as u64 * 8)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period = ctx.queue.get_timestamp_period() as f64;
        Ok(dispatches
            .iter()
            .enumerate()
            .map(|(i, d)| (d.kernel, ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period))
            .collect())
    }
}
