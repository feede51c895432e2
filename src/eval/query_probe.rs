//! `eval queries`: what a teacher's query-token outputs encode. A query token is a small crop of
//! the view behind the one-way mask: it reads the image, nothing reads it. The paper's claim is
//! that it learns the crop *in its context*; a function of the crop's own pixels alone would
//! also bring the query loss down when both views share the crop. Measured here on test images:
//!
//! - the same crops placed in another image's view (of another class): how similar the query
//!   outputs stay (cosine, beside the cosine between two different crops of one view), and how
//!   often the teacher's top prototype stays (a training checkpoint: its head and query centre);
//! - how much a query output tells about the item class: weighted k-NN (k 20, T 0.07) of the
//!   crop's class against the query outputs of training images' crops, beside the same k-NN on
//!   CLS; and in another image's view, whether the k-NN names the crop's class or the view's.

use super::attention_map::query_crops;
use super::features::Backbone;
use super::knn::{nearest, vote};
use crate::data::dataset::Dataset;
use crate::data::image_io::resize_center_crop;
use crate::data::patches::{normalize_chw, patchify};
use crate::error::{Error, Result};
use crate::gpu::Engine;
use crate::model::encoder::Encoder;
use std::collections::HashMap;

const NEIGHBOURS: usize = 20;
const TEMPERATURE: f32 = 0.07;

/// What `eval queries` runs.
#[derive(Clone, Debug)]
pub struct QuerySettings {
    /// Test images whose crops are probed.
    pub images: usize,
    /// Training images whose crops make the k-NN bank.
    pub bank: usize,
    /// Query crops per image.
    pub queries: usize,
    pub seed: u64,
    /// Images per encoder forward.
    pub batch: usize,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self { images: 500, bank: 2_000, queries: 10, seed: 0, batch: 64 }
    }
}

/// The teacher's head and query centre, for top prototypes: params by timm name in f64.
pub struct TeacherHead {
    pub params: HashMap<String, Vec<f64>>,
    /// [K]
    pub centre_query: Vec<f64>,
}

impl TeacherHead {
    /// A head at the random initialisation of `seed`, with a zero centre.
    pub fn random(model: &crate::model::ModelConfig, seed: u64) -> Result<Self> {
        let store = crate::spec::params::ParamStore::new(model, usize::MAX / 2).map_err(Error::Data)?;
        let flats = store.init(&mut crate::rng::Rng::new(seed));
        let params = store
            .specs
            .iter()
            .filter(|s| s.name.starts_with("head."))
            .map(|s| (s.name.clone(), store.slice(&flats, &s.name).unwrap_or(&[]).iter().map(|&x| x as f64).collect()))
            .collect();
        Ok(Self { params, centre_query: vec![0.0; model.out_dim] })
    }

    /// The head of a training checkpoint's teacher, or None for an exported backbone.
    pub fn of_checkpoint(path: &std::path::Path) -> Result<Option<Self>> {
        let Ok(ck) = crate::checkpoint::load_training(path) else { return Ok(None) };
        let params = ck
            .state
            .teacher
            .iter()
            .filter(|(name, _)| name.starts_with("head."))
            .map(|(name, v)| (name.clone(), v.iter().map(|&x| x as f64).collect()))
            .collect();
        Ok(Some(Self { params, centre_query: ck.state.centre_query.iter().map(|&x| x as f64).collect() }))
    }

    /// The top prototype (of the centred logits) of every row of `x` [rows, D].
    fn top_prototypes(&self, model: &crate::model::ModelConfig, x: &[f32]) -> Result<Vec<usize>> {
        let rows = x.len() / model.dim.max(1);
        let k = model.out_dim;
        if self.centre_query.len() != k {
            return Err(Error::Checkpoint(format!("query centre of {} values for K {k}", self.centre_query.len())));
        }
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let logits = crate::reference::vit::head_forward(model, &self.params, &x64, rows).logits;
        Ok(logits
            .chunks(k)
            .map(|row| {
                (0..k)
                    .max_by(|&a, &b| (row[a] - self.centre_query[a]).total_cmp(&(row[b] - self.centre_query[b])))
                    .unwrap_or(0)
            })
            .collect())
    }
}

/// What the query outputs encode.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QueryReport {
    pub images: usize,
    pub queries: usize,
    /// Mean cosine between a crop's output in its own image's view and in another image's view.
    pub cosine_own_vs_other_view: f64,
    /// Mean cosine between the outputs of two different crops of one view (the scale of
    /// "different" for these features).
    pub cosine_between_crops: f64,
    /// Share of crops whose teacher top prototype stays in another image's view (a training
    /// checkpoint only).
    pub top_prototype_kept: Option<f64>,
    /// Distinct top prototypes over all crops in their own views.
    pub prototypes_used: Option<usize>,
    /// k-NN top-1 (%) of the item class from a crop's query output (own view).
    pub class_from_query: f64,
    /// The same from the view's CLS.
    pub class_from_cls: f64,
    /// A crop in another image's view: % of k-NN votes naming the crop's class, and the view's.
    pub other_view_names_crop_class: f64,
    pub other_view_names_view_class: f64,
}

/// CLS [n, D] and query outputs [n * Q, D] (final norm) of views with their crops.
fn outputs(
    e: &Engine,
    enc: &Encoder,
    b: &Backbone,
    views: &[Vec<f32>],
    crops: &[Vec<f32>],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (d, t, q) = (b.model.dim, enc.tokens(), enc.group.shape.queries);
    let n = b.model.patches(b.model.image_size);
    let (mut cls, mut out) = (Vec::new(), Vec::new());
    for (v, c) in views.chunks(enc.batch).zip(crops.chunks(enc.batch)) {
        enc.run_with_queries(e, &v.concat(), &c.concat())?;
        let normed = enc.final_normed(e)?;
        for i in 0..v.len() {
            cls.extend_from_slice(&normed[i * t * d..(i * t + 1) * d]);
            out.extend_from_slice(&normed[(i * t + 1 + n) * d..(i * t + 1 + n + q) * d]);
        }
    }
    Ok((cls, out))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-30)
}

/// Per image: its view as patch rows [N, C*P*P], its crops as query rows [Q, C*P*P], its label.
type Probed = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>);

/// Views, crops and labels of `count` images evenly spaced over a split.
fn prepared(b: &Backbone, ds: &Dataset, count: usize, s: &QuerySettings) -> Result<Probed> {
    let labels = ds.labels.as_ref().ok_or_else(|| Error::Data(format!("{}: eval queries needs labels", ds.origin)))?;
    let (side, p) = (b.model.image_size, b.model.patch_size);
    let (mut views, mut crops, mut ys) = (Vec::new(), Vec::new(), Vec::new());
    for i in super::features::evenly_spaced(ds.len(), count) {
        let view = resize_center_crop(&ds.image(i).map_err(Error::Data)?, side);
        let (_, rows) = query_crops(&view, s.queries, p, &b.norm, s.seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        views.push(patchify(&normalize_chw(&view, &b.norm), 3, side, p));
        crops.push(rows);
        ys.push(labels[i]);
    }
    Ok((views, crops, ys))
}

/// `eval queries` of a backbone (with its teacher head when there is one).
pub fn evaluate(
    e: &Engine,
    b: &Backbone,
    head: Option<&TeacherHead>,
    (train_ds, test_ds): (&Dataset, &Dataset),
    s: &QuerySettings,
    progress: &dyn Fn(&str),
) -> Result<QueryReport> {
    if s.queries < 2 || s.images < 2 || s.bank == 0 || s.batch == 0 {
        return Err(Error::Data("eval queries: --queries and --images need at least 2, --bank and --batch 1".into()));
    }
    let (d, q) = (b.model.dim, s.queries);
    let enc = Encoder::with_queries(e, &b.model, s.batch, q, &b.weights)?;
    progress(&format!("query outputs of {} training images (the k-NN bank)", s.bank.min(train_ds.len())));
    let (bank_views, bank_crops, bank_y) = prepared(b, train_ds, s.bank, s)?;
    let (bank_cls, bank_q) = outputs(e, &enc, b, &bank_views, &bank_crops)?;
    progress(&format!(
        "query outputs of {} test images, in their own views and in another image's",
        s.images.min(test_ds.len())
    ));
    let (views, crops, ys) = prepared(b, test_ds, s.images, s)?;
    let n = views.len();
    // Another image's view for each image's crops: the next image of another class.
    let other: Vec<usize> =
        (0..n).map(|i| (1..n).map(|k| (i + k) % n).find(|&j| ys[j] != ys[i]).unwrap_or((i + 1) % n)).collect();
    let other_views: Vec<Vec<f32>> = other.iter().map(|&j| views[j].clone()).collect();
    let (cls, own) = outputs(e, &enc, b, &views, &crops)?;
    let (_, swapped) = outputs(e, &enc, b, &other_views, &crops)?;
    let rows = |x: &[f32], r: usize| x[r * d..(r + 1) * d].to_vec();
    let cosine_own_vs_other_view =
        (0..n * q).map(|r| cosine(&rows(&own, r), &rows(&swapped, r))).sum::<f64>() / (n * q) as f64;
    let cosine_between_crops = (0..n)
        .flat_map(|i| (0..q).map(move |a| (i * q + a, i * q + (a + 1) % q)))
        .map(|(a, c)| cosine(&rows(&own, a), &rows(&own, c)))
        .sum::<f64>()
        / (n * q) as f64;
    let (top_prototype_kept, prototypes_used) = match head {
        Some(h) => {
            progress("the teacher head's top prototypes");
            let (a, c) = (h.top_prototypes(&b.model, &own)?, h.top_prototypes(&b.model, &swapped)?);
            let kept = a.iter().zip(&c).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
            let mut used = a.clone();
            used.sort_unstable();
            used.dedup();
            (Some(100.0 * kept), Some(used.len()))
        }
        None => (None, None),
    };
    progress("class k-NN of query outputs and of CLS");
    let classes = bank_y.iter().chain(&ys).max().map_or(1, |m| m + 1);
    let crop_labels: Vec<usize> = bank_y.iter().flat_map(|&y| std::iter::repeat_n(y, q)).collect();
    let predict = |bank: &[f32], labels: &[usize], x: Vec<f32>| -> Result<Vec<usize>> {
        let tops = nearest(e, bank.to_vec(), x, d, NEIGHBOURS)?;
        Ok(tops.iter().map(|t| vote(t, labels, classes, TEMPERATURE)[0]).collect())
    };
    let share = |hits: usize, all: usize| 100.0 * hits as f64 / all.max(1) as f64;
    let from_query = predict(&bank_q, &crop_labels, own)?;
    let class_from_query = share(from_query.iter().enumerate().filter(|(r, p)| **p == ys[r / q]).count(), n * q);
    let from_cls = predict(&bank_cls, &bank_y, cls)?;
    let class_from_cls = share(from_cls.iter().zip(&ys).filter(|(p, y)| p == y).count(), n);
    let in_other = predict(&bank_q, &crop_labels, swapped)?;
    let names = |which: &dyn Fn(usize) -> usize| {
        share(in_other.iter().enumerate().filter(|(r, p)| **p == which(*r)).count(), n * q)
    };
    Ok(QueryReport {
        images: n,
        queries: q,
        cosine_own_vs_other_view,
        cosine_between_crops,
        top_prototype_kept,
        prototypes_used,
        class_from_query,
        class_from_cls,
        other_view_names_crop_class: names(&|r| ys[r / q]),
        other_view_names_view_class: names(&|r| ys[other[r / q]]),
    })
}

/// The report as lines of text.
pub fn summary(r: &QueryReport) -> String {
    let proto = match (r.top_prototype_kept, r.prototypes_used) {
        (Some(k), Some(u)) => format!("top prototype kept in another view: {k:.1}% ({u} prototypes used)\n"),
        _ => "top prototype: no teacher head (an exported backbone or a random initialisation)\n".into(),
    };
    format!(
        "{} crops of {} test images: cosine of a crop's output in its own view and in another image's {:.3} \
         (two crops of one view: {:.3})\n{proto}class k-NN top-1: from a query output {:.1}%, from CLS {:.1}%; \
         a crop in another image's view is named by its own class {:.1}%, by the view's {:.1}%\n",
        r.images * r.queries,
        r.images,
        r.cosine_own_vs_other_view,
        r.cosine_between_crops,
        r.class_from_query,
        r.class_from_cls,
        r.other_view_names_crop_class,
        r.other_view_names_view_class
    )
}
