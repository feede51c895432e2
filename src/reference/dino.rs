//! DINO cross-entropy with centering and sharpening, its student gradient, the centre EMA.

/// Groups (teacher, student) pairs by student row: [offsets (n_student + 1), teacher ids].
pub fn pairs_csr(pairs: &[(usize, usize)], n_student: usize) -> Vec<u32> {
    let mut by_student: Vec<Vec<u32>> = vec![Vec::new(); n_student];
    for &(t, s) in pairs {
        by_student[s].push(t as u32);
    }
    let mut offsets = vec![0u32];
    let mut teachers = Vec::with_capacity(pairs.len());
    for list in &by_student {
        teachers.extend_from_slice(list);
        offsets.push(teachers.len() as u32);
    }
    offsets.extend(teachers);
    offsets
}

/// Sizes and temperatures of one DINO loss term.
#[derive(Clone, Copy, Debug)]
pub struct DinoShape {
    pub n_teacher: usize,
    pub n_student: usize,
    pub k: usize,
    pub tau_t: f64,
    pub tau_s: f64,
}

fn teacher_probs(sh: &DinoShape, teacher: &[f64], centre: &[f64]) -> Vec<f64> {
    let centred: Vec<f64> = teacher.iter().enumerate().map(|(i, t)| t - centre[i % sh.k]).collect();
    super::softmax::forward(&centred, sh.n_teacher, sh.k, 1.0 / sh.tau_t)
}

/// L = 1/P sum over pairs of -sum_k softmax((t - c)/tau_t)_k log_softmax(s/tau_s)_k.
pub fn loss(sh: &DinoShape, teacher: &[f64], student: &[f64], centre: &[f64], pairs: &[(usize, usize)]) -> f64 {
    let pt = teacher_probs(sh, teacher, centre);
    let logq = super::softmax::log_forward(student, sh.n_student, sh.k, 1.0 / sh.tau_s);
    let k = sh.k;
    let total: f64 = pairs.iter().map(|&(t, s)| -(0..k).map(|j| pt[t * k + j] * logq[s * k + j]).sum::<f64>()).sum();
    total / pairs.len().max(1) as f64
}

/// d(weight * L)/d student logits [n_student, k].
pub fn grad_student(
    sh: &DinoShape,
    teacher: &[f64],
    student: &[f64],
    centre: &[f64],
    pairs: &[(usize, usize)],
    weight: f64,
) -> Vec<f64> {
    let pt = teacher_probs(sh, teacher, centre);
    let q = super::softmax::forward(student, sh.n_student, sh.k, 1.0 / sh.tau_s);
    let k = sh.k;
    let scale = weight / (pairs.len().max(1) as f64 * sh.tau_s);
    let mut g = vec![0.0; sh.n_student * k];
    for &(t, s) in pairs {
        for j in 0..k {
            g[s * k + j] += scale * (q[s * k + j] - pt[t * k + j]);
        }
    }
    g
}

/// c <- momentum c + (1 - momentum) mean_rows(teacher).
pub fn centre_update(centre: &[f64], teacher: &[f64], rows: usize, k: usize, momentum: f64) -> Vec<f64> {
    (0..k)
        .map(|j| {
            let mean = (0..rows).map(|r| teacher[r * k + j]).sum::<f64>() / rows.max(1) as f64;
            momentum * centre[j] + (1.0 - momentum) * mean
        })
        .collect()
}
