//! DINO's weighted k-NN classifier: cosine similarity of L2-normalised features against the
//! training bank (on the GPU, tiled over bank and queries), the k nearest vote with weights
//! exp(sim / T); top-1 and top-5 accuracy.

use crate::error::Result;
use crate::gpu::{Engine, GpuTensor};
use crate::ops::matmul::{self, MatmulShape};

pub fn l2_normalize_rows(x: &mut [f32], dim: usize) {
    for row in x.chunks_mut(dim) {
        let n = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= n);
    }
}

/// The k largest (similarity, bank index) of one query, kept sorted descending.
#[derive(Clone, Debug, Default)]
pub struct TopK {
    pub k: usize,
    pub items: Vec<(f32, usize)>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self { k, items: Vec::with_capacity(k + 1) }
    }

    pub fn push(&mut self, sim: f32, idx: usize) {
        if self.items.len() == self.k && self.items.last().is_some_and(|l| l.0 >= sim) {
            return;
        }
        let pos = self.items.partition_point(|it| it.0 >= sim);
        self.items.insert(pos, (sim, idx));
        self.items.truncate(self.k);
    }
}

/// Class ranking of one query from its neighbours: weights exp(sim / temperature).
pub fn vote(top: &TopK, bank_labels: &[usize], n_classes: usize, temperature: f32) -> Vec<usize> {
    let mut score = vec![0.0f64; n_classes.max(1)];
    for &(sim, idx) in &top.items {
        score[bank_labels[idx]] += ((sim / temperature) as f64).exp();
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnnResult {
    pub top1: f64,
    pub top5: f64,
    pub queries: usize,
    pub bank: usize,
}

/// Nearest neighbours of every query row in the bank, by cosine similarity on the GPU.
/// Both inputs are [rows, dim] and get L2-normalised here.
pub fn nearest(e: &Engine, bank: Vec<f32>, queries: Vec<f32>, dim: usize, k: usize) -> Result<Vec<TopK>> {
    pollster::block_on(nearest_async(e, bank, queries, dim, k))
}

/// `nearest` as a future (each block of similarities awaited as it is read back).
pub async fn nearest_async(
    e: &Engine,
    mut bank: Vec<f32>,
    mut queries: Vec<f32>,
    dim: usize,
    k: usize,
) -> Result<Vec<TopK>> {
    l2_normalize_rows(&mut bank, dim);
    l2_normalize_rows(&mut queries, dim);
    let (n_bank, n_query) = (bank.len() / dim, queries.len() / dim);
    let limit = (e.ctx.limits.max_storage_buffer_binding_size / 4) as usize;
    let q_chunk = 256usize.min(n_query.max(1));
    // Bank rows per tile: the bank slice and the similarity block must each fit a binding.
    let b_chunk = (limit / dim).min(limit / q_chunk).clamp(1, n_bank.max(1));
    let mut tops = vec![TopK::new(k); n_query];
    for b0 in (0..n_bank).step_by(b_chunk) {
        let bn = b_chunk.min(n_bank - b0);
        let gb = GpuTensor::from_f32(&e.ctx, "knn.bank", &[bn, dim], &bank[b0 * dim..(b0 + bn) * dim])?;
        for q0 in (0..n_query).step_by(q_chunk) {
            let qn = q_chunk.min(n_query - q0);
            let gq = GpuTensor::from_f32(&e.ctx, "knn.queries", &[qn, dim], &queries[q0 * dim..(q0 + qn) * dim])?;
            let sims = GpuTensor::zeros(&e.ctx, "knn.similarities", &[qn, bn])?;
            let mut s = MatmulShape::new(1, qn, bn, dim);
            s.trans_b = true;
            e.run(&[&matmul::forward(e, &s, &gq, &gb, None, &sims, 1.0, false)?])?;
            let v = sims.read_f32_async(&e.ctx).await?;
            for (r, row) in v.chunks(bn).enumerate() {
                let top = &mut tops[q0 + r];
                for (j, &sim) in row.iter().enumerate() {
                    top.push(sim, b0 + j);
                }
            }
        }
    }
    Ok(tops)
}

/// Fails naming the flag unless k >= 1 and the temperature is finite and > 0.
pub fn check_settings(k: usize, temperature: f32) -> Result<()> {
    if k == 0 {
        return Err(crate::error::Error::Data("--k 0: the vote needs at least one neighbour".into()));
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(crate::error::Error::Data(format!("--temperature {temperature} must be a finite number > 0")));
    }
    Ok(())
}

/// k-NN accuracy (DINO: k = 20, T = 0.07).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    e: &Engine,
    bank: Vec<f32>,
    bank_labels: &[usize],
    queries: Vec<f32>,
    query_labels: &[usize],
    dim: usize,
    k: usize,
    temperature: f32,
) -> Result<KnnResult> {
    pollster::block_on(evaluate_async(e, bank, bank_labels, queries, query_labels, dim, k, temperature))
}

/// `evaluate` as a future.
#[allow(clippy::too_many_arguments)]
pub async fn evaluate_async(
    e: &Engine,
    bank: Vec<f32>,
    bank_labels: &[usize],
    queries: Vec<f32>,
    query_labels: &[usize],
    dim: usize,
    k: usize,
    temperature: f32,
) -> Result<KnnResult> {
    check_settings(k, temperature)?;
    let n_classes = bank_labels.iter().chain(query_labels).max().map_or(1, |m| m + 1);
    let tops = nearest_async(e, bank, queries, dim, k).await?;
    let (mut top1, mut top5) = (0usize, 0usize);
    for (top, &label) in tops.iter().zip(query_labels) {
        let ranking = vote(top, bank_labels, n_classes, temperature);
        top1 += usize::from(ranking[0] == label);
        top5 += usize::from(ranking.iter().take(5).any(|&c| c == label));
    }
    let n = tops.len().max(1) as f64;
    Ok(KnnResult {
        top1: 100.0 * top1 as f64 / n,
        top5: 100.0 * top5 as f64 / n,
        queries: tops.len(),
        bank: bank_labels.len(),
    })
}
