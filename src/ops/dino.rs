//! The DINO loss term on the GPU: the loss with its gradient to the student logits (one
//! fused pass per student row), and the centre EMA.

use super::expect_len;
use crate::error::{shape_error, Result};
use crate::gpu::entry;
use crate::gpu::params::shader_params;
use crate::gpu::{grid_1d, grid_rows, Alloc, Dispatch, Engine, GpuTensor};
use crate::reference::dino::pairs_csr;
pub use crate::reference::dino::DinoShape;

shader_params! {
    /// Teacher and student rows, K outputs, `n_pairs` (teacher, student) pairs, 1 / temperatures,
    /// the term's weight.
    pub struct DinoLossParams for ["dino_loss_forward"] {
        n_teacher: u32, n_student: u32, k: u32, n_pairs: u32, inv_tau_t: f32, inv_tau_s: f32, weight: f32, _pad: u32,
    }
}
shader_params! {
    pub struct DinoCenterParams for ["dino_center"] { rows: u32, k: u32, momentum: f32, _pad: u32 }
}

/// One loss term with its scratch buffers and dispatches, built once.
pub struct DinoLoss {
    pub shape: DinoShape,
    /// The teacher logits this term reads, [n_teacher, k].
    teacher: GpuTensor,
    /// [n_teacher, k] sharpened, centred teacher probabilities.
    pub teacher_probs: GpuTensor,
    /// [n_student] summed cross-entropy of each student row's pairs.
    pub row_loss: GpuTensor,
    /// [1] the term's value.
    pub loss: GpuTensor,
    /// Teacher probabilities, each student row's loss and gradient, the mean: the gradient
    /// needs nothing from the backward pass, so it is written here.
    pub forward: Vec<Dispatch>,
    /// [n_student, k] where the gradient goes: weight * dL/ds.
    pub grad_student: GpuTensor,
    n_pairs: usize,
    weight: f32,
}

impl DinoLoss {
    /// `pairs` are (teacher row, student row); `grad_student` receives weight * dL/ds
    /// (written, not added). The student logits are only read.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        al: &mut Alloc,
        name: &str,
        shape: DinoShape,
        pairs: &[(usize, usize)],
        teacher: &GpuTensor,
        student: &GpuTensor,
        centre: &GpuTensor,
        grad_student: &GpuTensor,
        weight: f32,
    ) -> Result<Self> {
        let (nt, ns, k) = (shape.n_teacher, shape.n_student, shape.k);
        expect_len("dino_loss", teacher, nt * k)?;
        expect_len("dino_loss", student, ns * k)?;
        expect_len("dino_loss", grad_student, ns * k)?;
        expect_len("dino_loss", centre, k)?;
        if let Some(&(t, s)) = pairs.iter().find(|&&(t, s)| t >= nt || s >= ns) {
            return Err(shape_error(
                "dino_loss",
                format!("pair ({t}, {s}) is outside {nt} teacher / {ns} student rows"),
            ));
        }
        let csr = pairs_csr(pairs, ns);
        let pairs_t = al.u32s(&format!("{name}.pairs"), &csr)?;
        let teacher_probs = al.tensor(&format!("{name}.teacher_probs"), &[nt, k])?;
        let row_loss = al.tensor(&format!("{name}.row_loss"), &[ns])?;
        let loss = al.tensor(&format!("{name}.loss"), &[1])?;
        let e = al.e;
        let params = Self::params(&shape, pairs.len(), shape.tau_t as f32, weight);
        let bufs = [teacher, centre, &pairs_t, &teacher_probs, student, &row_loss, &loss, grad_student];
        let forward = vec![
            e.dispatch(entry::DINO_TEACHER_PROBS, &params, &bufs, grid_rows(nt))?,
            e.dispatch(entry::DINO_STUDENT_LOSS_GRAD, &params, &bufs, grid_rows(ns))?,
            e.dispatch(entry::DINO_LOSS_MEAN, &params, &bufs, [1, 1, 1])?,
        ];
        Ok(Self {
            shape,
            teacher: teacher.clone(),
            teacher_probs,
            row_loss,
            loss,
            forward,
            grad_student: grad_student.clone(),
            n_pairs: pairs.len(),
            weight,
        })
    }

    fn params(s: &DinoShape, n_pairs: usize, tau_t: f32, weight: f32) -> DinoLossParams {
        DinoLossParams {
            n_teacher: s.n_teacher as u32,
            n_student: s.n_student as u32,
            k: s.k as u32,
            n_pairs: n_pairs as u32,
            inv_tau_t: 1.0 / tau_t,
            inv_tau_s: 1.0 / s.tau_s as f32,
            weight,
            _pad: 0,
        }
    }

    /// The teacher logits this term reads.
    pub fn teacher_view(&self) -> GpuTensor {
        self.teacher.clone()
    }

    /// Changes the teacher temperature (its warm-up schedule) before the next submit.
    pub fn set_teacher_temperature(&self, e: &Engine, tau_t: f32) -> Result<()> {
        // Only the teacher probabilities read it.
        self.forward[0].set_params(&e.ctx, &Self::params(&self.shape, self.n_pairs, tau_t, self.weight))
    }
}

/// centre <- momentum centre + (1 - momentum) mean_rows(teacher) (skipped once health is bad).
pub fn centre_update(
    e: &Engine,
    teacher: &GpuTensor,
    centre: &GpuTensor,
    health: &GpuTensor,
    k: usize,
    momentum: f32,
) -> Result<Dispatch> {
    let rows = teacher.len() / k.max(1);
    expect_len("dino_center_update", teacher, rows * k)?;
    expect_len("dino_center_update", centre, k)?;
    let params = DinoCenterParams { rows: rows as u32, k: k as u32, momentum, _pad: 0 };
    e.dispatch(entry::DINO_CENTER_UPDATE, &params, &[teacher, health, centre], grid_1d(k, 256))
}
