//! Building the ADCLR step, in the order llm.c's `gpt2_build_from_checkpoint` /
//! `gpt2_forward` / `gpt2_backward` / `gpt2_update` read: plan and allocate every buffer
//! (parameters, view groups, heads, row indices, loss terms), then record the forward, the
//! backward and the update phase once. `AdclrStep::new` calls these in that order.

use super::backbone::{Group, GroupSpec};
use super::head::Head;
use super::params::{BackboneParams, HeadParams, ParamViews};
use super::pos_embed::resize_matrix;
use crate::error::{Error, Result};
use crate::gpu::Precision;
use crate::gpu::{Alloc, Dispatch, Engine, GpuTensor};
use crate::ops::dino::{centre_update, DinoLoss, DinoShape};
use crate::ops::health::{Health, SKIP_ONLY};
use crate::ops::loss_scale::{LossScale, LossScaleRule};
use crate::ops::optim::{ema, AdamW, Optimizer};
use crate::ops::{elementwise, rows};
use crate::reference::step::{cls_rows, query_rows};
use crate::rng::Rng;
use crate::spec::config::AdclrConfig;
use crate::spec::params::ParamStore;

/// The flat buffers of one parameter chunk.
pub struct ChunkBuffers {
    pub student: GpuTensor,
    pub teacher: GpuTensor,
    pub grads: GpuTensor,
    pub m: GpuTensor,
    pub v: GpuTensor,
}

/// Health codes: which term went non-finite.
pub const CODE_GLOBAL_LOSS: u32 = 1;
pub const CODE_QUERY_LOSS: u32 = 2;
/// Gradients of chunk i have code CODE_GRADIENTS + i.
pub const CODE_GRADIENTS: u32 = 16;
/// The state after an update: chunk i's student parameters have code CODE_STATE + 3 i, its
/// Adam moments CODE_STATE + 3 i + 1 and + 2 (checked when the host reads the flag).
pub const CODE_STATE: u32 = 1 << 16;

/// The parameter layout (chunks of at most one binding) and each chunk's student, teacher,
/// gradient and Adam buffers; student = teacher = the seeded timm/DINO initialisation.
pub fn parameters(e: &Engine, al: &mut Alloc, cfg: &AdclrConfig, seed: u64) -> Result<(ParamStore, Vec<ChunkBuffers>)> {
    let max_chunk = (e.ctx.limits.max_storage_buffer_binding_size / 4) as usize;
    let store = ParamStore::new(&cfg.model, max_chunk).map_err(|m| crate::error::shape_error("parameters", m))?;
    let init = store.init(&mut Rng::new(seed));
    let mut chunks = Vec::new();
    for (i, layout) in store.chunks.iter().enumerate() {
        let n = [layout.total];
        let cb = ChunkBuffers {
            student: al.tensor(&format!("params.{i}.student"), &n)?,
            teacher: al.tensor(&format!("params.{i}.teacher"), &n)?,
            grads: al.tensor(&format!("params.{i}.grads"), &n)?,
            m: al.tensor(&format!("params.{i}.adam_m"), &n)?,
            v: al.tensor(&format!("params.{i}.adam_v"), &n)?,
        };
        cb.student.write_f32(&e.ctx, &init[i])?;
        cb.teacher.write_f32(&e.ctx, &init[i])?;
        chunks.push(cb);
    }
    Ok((store, chunks))
}

/// The backbone view groups: the student's global (2B views with Q queries) and local (L B
/// views) groups and the teacher's global group, with the position-embedding resize for the
/// local views.
pub struct Groups {
    pub student_global: Group,
    pub student_local: Option<Group>,
    pub teacher_global: Group,
    /// [1 + N_local, 1 + N_global] bicubic resize of the position embedding, when L > 0.
    pub pos_resize: Option<GpuTensor>,
}

pub fn groups(e: &Engine, al: &mut Alloc, cfg: &AdclrConfig) -> Result<Groups> {
    let c = &cfg.model;
    let (b, q, l) = (cfg.batch, cfg.queries, cfg.local_crops);
    let spec = |name, images, side, queries, training| GroupSpec {
        name,
        images,
        side,
        queries,
        training,
        keep_blocks: false,
        share: None,
    };
    let student_global = Group::new(al, cfg, &spec("student.global", 2 * b, c.image_size, q, true))?;
    let student_local = match l {
        0 => None,
        _ => Some(Group::new(al, cfg, &spec("student.local", l * b, c.local_size, 0, true))?),
    };
    let teacher_spec =
        GroupSpec { share: Some(&student_global), ..spec("teacher.global", 2 * b, c.image_size, q, false) };
    let teacher_global = Group::new(al, cfg, &teacher_spec)?;
    teacher_global.drop.write_f32(&e.ctx, &vec![1.0; teacher_global.drop.len()])?;
    let pos_resize = match l {
        0 => None,
        _ => {
            let m: Vec<f32> =
                resize_matrix(c.grid(c.image_size), c.grid(c.local_size)).iter().map(|&x| x as f32).collect();
            let t = al.tensor("pos_resize", &[1 + c.patches(c.local_size), 1 + c.patches(c.image_size)])?;
            t.write_f32(&e.ctx, &m)?;
            Some(t)
        }
    };
    Ok(Groups { student_global, student_local, teacher_global, pos_resize })
}

/// (student head, teacher head): rows are the CLS of every crop, then the global views' queries.
pub fn heads(al: &mut Alloc, cfg: &AdclrConfig) -> Result<(Head, Head)> {
    let c = &cfg.model;
    let student = Head::new(al, c, "student.head", cfg.student_head_rows(), true)?;
    let teacher = Head::new(al, c, "teacher.head", cfg.teacher_head_rows(), false)?;
    Ok((student, teacher))
}

/// Which token rows of the groups' outputs feed the heads.
pub struct RowIndices {
    /// [2B] the CLS row of each global view.
    pub cls_global: GpuTensor,
    /// [2B Q] the query rows of each global view.
    pub query_global: GpuTensor,
    /// [L B] the CLS row of each local view.
    pub cls_local: GpuTensor,
}

pub fn row_indices(al: &mut Alloc, cfg: &AdclrConfig) -> Result<RowIndices> {
    let c = &cfg.model;
    let (b, q, l) = (cfg.batch, cfg.queries, cfg.local_crops);
    let (n_g, n_l) = (c.patches(c.image_size), c.patches(c.local_size));
    let (t_g, t_l) = (1 + n_g + q, 1 + n_l);
    let to_u32 = |v: Vec<usize>| v.into_iter().map(|x| x as u32).collect::<Vec<u32>>();
    Ok(RowIndices {
        cls_global: al.u32s("index.global_cls", &to_u32(cls_rows(2 * b, t_g)))?,
        query_global: al.u32s("index.global_query", &to_u32(query_rows(2 * b, t_g, n_g, q)))?,
        cls_local: al.u32s("index.local_cls", &to_u32(cls_rows(l * b, t_l)))?,
    })
}

/// The global (multi-crop CLS) term and, when Q > 0, the query term weighted by lambda, each on
/// views of the heads' logits and with its centre (`centres`: [cls, query], [K] each).
pub fn losses(
    e: &Engine,
    al: &mut Alloc,
    cfg: &AdclrConfig,
    (student_head, teacher_head): &(Head, Head),
    centres: &[GpuTensor; 2],
) -> Result<(DinoLoss, Option<DinoLoss>)> {
    let (b, q, k) = (cfg.batch, cfg.queries, cfg.model.out_dim);
    let n_cls = (2 + cfg.local_crops) * b;
    let (tl, sl) = (&teacher_head.logits, &student_head.logits);
    let sd = &student_head.grads.as_ref().ok_or_else(|| Error::Gpu("student head has no gradients".into()))?.d_logits;
    let tau_s = cfg.student_temp;
    let gshape = DinoShape { n_teacher: 2 * b, n_student: n_cls, k, tau_t: 0.04, tau_s };
    let global = DinoLoss::new(
        al,
        "loss.global",
        gshape,
        &cfg.global_pairs(),
        &tl.view(&e.ctx, "teacher.logits.cls", 0, &[2 * b, k])?,
        &sl.view(&e.ctx, "student.logits.cls", 0, &[n_cls, k])?,
        &centres[0],
        &sd.view(&e.ctx, "student.d_logits.cls", 0, &[n_cls, k])?,
        1.0,
    )?;
    if q == 0 {
        return Ok((global, None));
    }
    let nq = 2 * b * q;
    let query = DinoLoss::new(
        al,
        "loss.query",
        DinoShape { n_teacher: nq, n_student: nq, k, tau_t: 0.04, tau_s },
        &cfg.query_pairs(),
        &tl.view(&e.ctx, "teacher.logits.query", 2 * b * k, &[nq, k])?,
        &sl.view(&e.ctx, "student.logits.query", n_cls * k, &[nq, k])?,
        &centres[1],
        &sd.view(&e.ctx, "student.d_logits.query", n_cls * k, &[nq, k])?,
        cfg.lambda as f32,
    )?;
    Ok((global, Some(query)))
}

/// The forward phase: teacher on the global views, its CLS and query rows into its head; the
/// student on global and local views, its rows into its head. The loss terms follow.
pub fn record_forward(
    e: &Engine,
    cfg: &AdclrConfig,
    g: &Groups,
    (student_head, teacher_head): &(Head, Head),
    idx: &RowIndices,
    (student, teacher): (&ParamViews, &ParamViews),
) -> Result<Vec<Dispatch>> {
    let (c, b, d) = (&cfg.model, cfg.batch, cfg.model.dim);
    let n_cls = (2 + cfg.local_crops) * b;
    let q = cfg.queries > 0;
    let (student_bb, teacher_bb) =
        (BackboneParams::from_views(student, c.depth)?, BackboneParams::from_views(teacher, c.depth)?);
    let (student_hp, teacher_hp) = (HeadParams::from_views(student)?, HeadParams::from_views(teacher)?);
    let (student, teacher) = (&student_bb, &teacher_bb);
    let mut f = g.teacher_global.forward(e, cfg, teacher, None)?;
    f.push(rows::gather(e, &g.teacher_global.normed, &idx.cls_global, &teacher_head.input, d, 0)?);
    if q {
        f.push(rows::gather(e, &g.teacher_global.normed, &idx.query_global, &teacher_head.input, d, 2 * b)?);
    }
    f.extend(teacher_head.forward(e, c, &teacher_hp)?);
    f.extend(g.student_global.forward(e, cfg, student, None)?);
    f.push(rows::gather(e, &g.student_global.normed, &idx.cls_global, &student_head.input, d, 0)?);
    if let Some(lg) = &g.student_local {
        f.extend(lg.forward(e, cfg, student, g.pos_resize.as_ref())?);
        f.push(rows::gather(e, &lg.normed, &idx.cls_local, &student_head.input, d, 2 * b)?);
    }
    if q {
        f.push(rows::gather(e, &g.student_global.normed, &idx.query_global, &student_head.input, d, n_cls)?);
    }
    f.extend(student_head.forward(e, c, &student_hp)?);
    Ok(f)
}

/// The backward phase (the loss terms wrote the logits' gradient during the forward phase; the
/// parameter gradients are zeroed before it): head, rows back to the groups, groups.
pub fn record_backward(
    e: &Engine,
    cfg: &AdclrConfig,
    g: &Groups,
    (student_head, _): &(Head, Head),
    idx: &RowIndices,
    (student, grads): (&ParamViews, &ParamViews),
) -> Result<Vec<Dispatch>> {
    let (c, b, d) = (&cfg.model, cfg.batch, cfg.model.dim);
    let n_cls = (2 + cfg.local_crops) * b;
    let (p, gp) = (HeadParams::from_views(student)?, HeadParams::from_views(grads)?);
    let mut bw = student_head.backward(e, c, &p, &gp)?;
    let (student_bb, grads_bb) =
        (BackboneParams::from_views(student, c.depth)?, BackboneParams::from_views(grads, c.depth)?);
    let (student, grads) = (&student_bb, &grads_bb);
    let d_in = &student_head.grads.as_ref().ok_or_else(|| Error::Gpu("no head grads".into()))?.d_input;
    let dn =
        |g: &Group| g.grads.as_ref().map(|x| x.d_normed.clone()).ok_or_else(|| Error::Gpu("no group grads".into()));
    let dn_g = dn(&g.student_global)?;
    bw.push(elementwise::fill(e, &dn_g, 0.0)?);
    bw.push(rows::scatter(e, d_in, &idx.cls_global, &dn_g, d, 0)?);
    if cfg.queries > 0 {
        bw.push(rows::scatter(e, d_in, &idx.query_global, &dn_g, d, n_cls)?);
    }
    if let Some(lg) = &g.student_local {
        let dn_l = dn(lg)?;
        bw.push(elementwise::fill(e, &dn_l, 0.0)?);
        bw.push(rows::scatter(e, d_in, &idx.cls_local, &dn_l, d, 2 * b)?);
        bw.extend(lg.backward(e, cfg, student, grads, g.pos_resize.as_ref())?);
    }
    bw.extend(g.student_global.backward(e, cfg, student, grads, None)?);
    Ok(bw)
}

/// The update phase's pieces: per chunk clipping + AdamW, the health checks (every step: loss
/// terms and gradient norms; when the flag is read: parameters and moments), the EMA teacher
/// and the centre updates, all gated by the health flag.
pub struct Update {
    pub health: Health,
    /// The loss scale (1 and never updated unless f16-mixed).
    pub loss_scale: LossScale,
    /// f16-mixed: the loss gradients times the scale (after the losses' forward).
    pub scale_loss: Vec<Dispatch>,
    /// f16-mixed: the next scale (after the updates and each optimizer's `count_skips`).
    pub scale_update: Option<Dispatch>,
    pub optimizers: Vec<Optimizer>,
    pub checks: Vec<(Dispatch, usize, u32)>,
    pub state_checks: Vec<(Dispatch, usize, u32)>,
    pub ema: Vec<(Dispatch, usize)>,
    pub centres: Vec<Dispatch>,
}

pub fn record_update(
    e: &Engine,
    al: &mut Alloc,
    cfg: &AdclrConfig,
    (store, chunks): (&ParamStore, &[ChunkBuffers]),
    (global_loss, query_loss): (&DinoLoss, Option<&DinoLoss>),
    centres: &[GpuTensor; 2],
) -> Result<Update> {
    let health = Health::new(e)?;
    let scaling = e.choice.precision == Precision::F16Mixed;
    let loss_scale = LossScale::new(e, if scaling { LossScaleRule::DEFAULT } else { LossScaleRule::NONE })?;
    let opt = AdamW { lr: 0.0, weight_decay: 0.0, beta1: cfg.adam_beta1, beta2: cfg.adam_beta2, eps: cfg.adam_eps };
    let clip = cfg.clip_grad as f32;
    let optimizers = chunks
        .iter()
        .zip(&store.chunks)
        .map(|(cb, layout)| {
            Optimizer::new(al, layout, &opt, clip, &cb.grads, &cb.student, &cb.m, &cb.v, &health.flag, &loss_scale)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut checks = vec![(health.check(e, &global_loss.loss, CODE_GLOBAL_LOSS)?, 1, CODE_GLOBAL_LOSS)];
    if let Some(ql) = query_loss {
        checks.push((health.check(e, &ql.loss, CODE_QUERY_LOSS)?, 1, CODE_QUERY_LOSS));
    }
    for (i, o) in optimizers.iter().enumerate() {
        // Under loss scaling a non-finite gradient skips the step instead of stopping.
        let code = (CODE_GRADIENTS + i as u32) | if scaling { SKIP_ONLY } else { 0 };
        checks.push((health.check(e, &o.clip, code)?, o.clip.len(), code));
    }
    let mut state_checks = Vec::new();
    for (i, cb) in chunks.iter().enumerate() {
        for (k, t) in [&cb.student, &cb.m, &cb.v].into_iter().enumerate() {
            let code = CODE_STATE + 3 * i as u32 + k as u32;
            state_checks.push((health.check(e, t, code)?, t.len(), code));
        }
    }
    let ema = chunks
        .iter()
        .map(|cb| Ok((ema(e, &cb.student, &cb.teacher, &health.flag, 0.996)?, cb.teacher.len())))
        .collect::<Result<Vec<_>>>()?;
    let (k, momentum) = (cfg.model.out_dim, cfg.centre_momentum as f32);
    let mut centre_updates =
        vec![centre_update(e, &global_loss.teacher_view(), &centres[0], &health.flag, k, momentum)?];
    if let Some(ql) = query_loss {
        centre_updates.push(centre_update(e, &ql.teacher_view(), &centres[1], &health.flag, k, momentum)?);
    }
    let (mut scale_loss, mut scale_update) = (Vec::new(), None);
    if scaling {
        for l in std::iter::once(global_loss).chain(query_loss) {
            scale_loss.push(loss_scale.apply(e, &l.grad_student, &health.flag)?);
        }
        scale_update = Some(loss_scale.update(e, &health.flag)?);
    }
    Ok(Update {
        health,
        loss_scale,
        scale_loss,
        scale_update,
        optimizers,
        checks,
        state_checks,
        ema,
        centres: centre_updates,
    })
}
