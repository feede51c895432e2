//! Flat parameter buffers: where each tensor lives (offset, length, decay, lr scale, step
//! count) and the optimizer blocks over them.

/// One tensor of a flat parameter buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub offset: usize,
    pub len: usize,
    /// Weight decay applies (not to biases and LayerNorm parameters).
    pub decay: bool,
    /// Multiplies the learning rate; 0 freezes the tensor (no update, no decay).
    pub lr_scale: f64,
    /// Optimizer steps this tensor has taken, this one included (for bias correction).
    pub step: u64,
}

/// Elements per optimizer block (one workgroup).
pub const BLOCK: usize = 1024;
/// Tensors start at multiples of 64 elements (256 bytes), so each can be bound on its own.
pub const ALIGN: usize = 64;

/// Where each named tensor lives in the flat buffers.
#[derive(Clone, Debug, Default)]
pub struct FlatLayout {
    pub names: Vec<String>,
    pub segments: Vec<Segment>,
    /// Elements in the flat buffers, padding included.
    pub total: usize,
}

impl FlatLayout {
    /// Appends a tensor of `len` elements; returns its offset.
    pub fn push(&mut self, name: &str, len: usize, decay: bool) -> usize {
        let offset = self.total.div_ceil(ALIGN) * ALIGN;
        self.names.push(name.to_string());
        self.segments.push(Segment { offset, len, decay, lr_scale: 1.0, step: 0 });
        self.total = offset + len;
        offset
    }

    /// Block records [segment, start, end, 0] and each segment's (first block, count).
    pub fn blocks(&self) -> (Vec<u32>, Vec<(u32, u32)>) {
        let mut blocks = Vec::new();
        let mut ranges = Vec::new();
        for (i, s) in self.segments.iter().enumerate() {
            let first = (blocks.len() / 4) as u32;
            let mut start = s.offset;
            while start < s.offset + s.len {
                let end = (start + BLOCK).min(s.offset + s.len);
                blocks.extend_from_slice(&[i as u32, start as u32, end as u32, 0]);
                start = end;
            }
            ranges.push((first, (blocks.len() / 4) as u32 - first));
        }
        (blocks, ranges)
    }
}
