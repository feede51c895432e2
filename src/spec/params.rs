//! The parameter list (timm / DINO names and layouts), its initialisation, and where each
//! tensor lives in the flat buffers (split into chunks no larger than one storage binding).

use super::config::ModelConfig;
use super::flat::{FlatLayout, Segment, ALIGN};
use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Normal(0, 0.02) truncated to [-2, 2] (timm / DINO).
    TruncNormal,
    Zeros,
    Ones,
    /// Uniform(-b, b): PyTorch's default Linear init, b = 1 / sqrt(fan_in).
    Uniform(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// Weight decay applies (not to biases, LayerNorm parameters or the fixed gain).
    pub decay: bool,
    /// Never updated (the weight-norm gain, fixed at 1).
    pub fixed: bool,
    pub init: Init,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every trained tensor of backbone and head, in timm's order, then the head.
pub fn param_specs(c: &ModelConfig) -> Vec<ParamSpec> {
    let (d, n) = (c.dim, c.patches(c.image_size));
    let mut v = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, decay: bool, init: Init| {
        v.push(ParamSpec { name, shape, decay, fixed: false, init });
    };
    use Init::*;
    add("cls_token".into(), vec![1, 1, d], true, TruncNormal);
    add("pos_embed".into(), vec![1, 1 + n, d], true, TruncNormal);
    add("patch_embed.proj.weight".into(), vec![d, c.channels, c.patch_size, c.patch_size], true, TruncNormal);
    add("patch_embed.proj.bias".into(), vec![d], false, Zeros);
    for i in 0..c.depth {
        let b = format!("blocks.{i}");
        add(format!("{b}.norm1.weight"), vec![d], false, Ones);
        add(format!("{b}.norm1.bias"), vec![d], false, Zeros);
        add(format!("{b}.attn.qkv.weight"), vec![3 * d, d], true, TruncNormal);
        add(format!("{b}.attn.qkv.bias"), vec![3 * d], false, Zeros);
        add(format!("{b}.attn.proj.weight"), vec![d, d], true, TruncNormal);
        add(format!("{b}.attn.proj.bias"), vec![d], false, Zeros);
        add(format!("{b}.norm2.weight"), vec![d], false, Ones);
        add(format!("{b}.norm2.bias"), vec![d], false, Zeros);
        add(format!("{b}.mlp.fc1.weight"), vec![c.hidden(), d], true, TruncNormal);
        add(format!("{b}.mlp.fc1.bias"), vec![c.hidden()], false, Zeros);
        add(format!("{b}.mlp.fc2.weight"), vec![d, c.hidden()], true, TruncNormal);
        add(format!("{b}.mlp.fc2.bias"), vec![d], false, Zeros);
    }
    add("norm.weight".into(), vec![d], false, Ones);
    add("norm.bias".into(), vec![d], false, Zeros);
    let (h, bn, k) = (c.head_hidden, c.head_bottleneck, c.out_dim);
    add("head.mlp.0.weight".into(), vec![h, d], true, TruncNormal);
    add("head.mlp.0.bias".into(), vec![h], false, Zeros);
    add("head.mlp.2.weight".into(), vec![h, h], true, TruncNormal);
    add("head.mlp.2.bias".into(), vec![h], false, Zeros);
    add("head.mlp.4.weight".into(), vec![bn, h], true, TruncNormal);
    add("head.mlp.4.bias".into(), vec![bn], false, Zeros);
    add("head.last_layer.weight_g".into(), vec![k, 1], false, Ones);
    add("head.last_layer.weight_v".into(), vec![k, bn], true, Uniform(1.0 / (bn as f64).sqrt()));
    // DINO keeps the weight-norm gain fixed at 1 (norm_last_layer).
    for s in v.iter_mut().filter(|s| s.name == "head.last_layer.weight_g") {
        s.fixed = true;
    }
    v
}

/// Backbone tensors are everything not under `head.`.
pub fn is_backbone(name: &str) -> bool {
    !name.starts_with("head.")
}

/// Whether a tensor takes no optimizer step: fixed tensors never move; the last layer is
/// frozen while `freeze_last_layer`.
fn holds_still(spec: &ParamSpec, freeze_last_layer: bool) -> bool {
    spec.fixed || (freeze_last_layer && spec.name == "head.last_layer.weight_v")
}

/// Where each parameter lives: chunk and segment within the chunk's flat layout.
#[derive(Clone, Debug)]
pub struct ParamStore {
    pub specs: Vec<ParamSpec>,
    pub chunks: Vec<FlatLayout>,
    /// (chunk, segment) of each spec.
    pub place: Vec<(usize, usize)>,
}

impl ParamStore {
    /// Packs tensors in order into chunks of at most `max_chunk` elements (the binding limit).
    /// Fails naming a tensor that alone exceeds it.
    pub fn new(cfg: &ModelConfig, max_chunk: usize) -> Result<Self, String> {
        Self::from_specs(param_specs(cfg), max_chunk)
    }

    /// As `new` for any list of tensors (e.g. the backbone alone).
    pub fn from_specs(specs: Vec<ParamSpec>, max_chunk: usize) -> Result<Self, String> {
        let mut chunks = vec![FlatLayout::default()];
        let mut place = Vec::with_capacity(specs.len());
        for s in &specs {
            if s.len() > max_chunk {
                return Err(format!(
                    "parameter `{}` has {} elements, more than one storage binding holds ({max_chunk})",
                    s.name,
                    s.len()
                ));
            }
            let aligned = chunks.last().map_or(0, |c| c.total.div_ceil(ALIGN) * ALIGN);
            if aligned + s.len() > max_chunk {
                chunks.push(FlatLayout::default());
            }
            let chunk = chunks.len() - 1;
            let layout = chunks.last_mut().expect("one chunk");
            layout.push(&s.name, s.len(), s.decay);
            let seg = layout.segments.len() - 1;
            if s.fixed {
                layout.segments[seg].lr_scale = 0.0;
            }
            place.push((chunk, seg));
        }
        Ok(Self { specs, chunks, place })
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }

    pub fn segment(&self, i: usize) -> &Segment {
        let (c, s) = self.place[i];
        &self.chunks[c].segments[s]
    }

    pub fn segment_mut(&mut self, i: usize) -> &mut Segment {
        let (c, s) = self.place[i];
        &mut self.chunks[c].segments[s]
    }

    /// (chunk, element offset in that chunk's flat buffer) of tensor `i`.
    pub fn offset(&self, i: usize) -> (usize, usize) {
        let (c, s) = self.place[i];
        (c, self.chunks[c].segments[s].offset)
    }

    /// Named tensors packed into one flat vector per chunk (padding zero); names a tensor
    /// that is missing or has the wrong length.
    pub fn pack(&self, named: &std::collections::BTreeMap<String, Vec<f32>>) -> Result<Vec<Vec<f32>>, String> {
        let mut flats: Vec<Vec<f32>> = self.chunks.iter().map(|c| vec![0.0; c.total]).collect();
        for (i, s) in self.specs.iter().enumerate() {
            let v = named.get(&s.name).ok_or_else(|| format!("no `{}`", s.name))?;
            if v.len() != s.len() {
                return Err(format!("`{}` has {} values, expected {}", s.name, v.len(), s.len()));
            }
            let (c, off) = self.offset(i);
            flats[c][off..off + v.len()].copy_from_slice(v);
        }
        Ok(flats)
    }

    pub fn total_elements(&self) -> usize {
        self.specs.iter().map(ParamSpec::len).sum()
    }

    /// Fresh parameters, one flat vector per chunk (padding zero).
    pub fn init(&self, rng: &mut Rng) -> Vec<Vec<f32>> {
        let mut flats: Vec<Vec<f32>> = self.chunks.iter().map(|c| vec![0.0; c.total]).collect();
        for (i, s) in self.specs.iter().enumerate() {
            let (c, off) = self.offset(i);
            for x in &mut flats[c][off..off + s.len()] {
                *x = match s.init {
                    Init::TruncNormal => rng.trunc_normal(0.02, -2.0, 2.0) as f32,
                    Init::Zeros => 0.0,
                    Init::Ones => 1.0,
                    Init::Uniform(b) => rng.range(-b, b) as f32,
                };
            }
        }
        flats
    }

    /// The named tensor's slice of its chunk's flat vector.
    pub fn slice<'a, T>(&self, flats: &'a [Vec<T>], name: &str) -> Option<&'a [T]> {
        let i = self.index(name)?;
        let (c, off) = self.offset(i);
        Some(&flats[c][off..off + self.specs[i].len()])
    }
}

impl ParamStore {
    /// Sets each tensor's lr scale and step count for the coming optimizer step: fixed
    /// tensors never move; the last layer is frozen (and its step count held) while
    /// `freeze_last_layer`; every other tensor takes one more step.
    pub fn begin_step(&mut self, freeze_last_layer: bool) {
        for i in 0..self.specs.len() {
            let still = holds_still(&self.specs[i], freeze_last_layer);
            let seg = self.segment_mut(i);
            if still {
                seg.lr_scale = 0.0;
            } else {
                seg.lr_scale = 1.0;
                seg.step += 1;
            }
        }
    }

    /// Undoes the step counts of `begin_step(freeze_last_layer)` (a step that failed).
    pub fn undo_step(&mut self, freeze_last_layer: bool) {
        for i in 0..self.specs.len() {
            if !holds_still(&self.specs[i], freeze_last_layer) {
                let seg = self.segment_mut(i);
                seg.step = seg.step.saturating_sub(1);
            }
        }
    }
}
