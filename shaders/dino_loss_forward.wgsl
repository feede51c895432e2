// DINO cross-entropy with centering and sharpening, over a list of (teacher, student) pairs:
//   L = 1/P sum_pairs H(t, s),  H = -sum_k softmax((t - c) / tau_t)_k log_softmax(s / tau_s)_k.
// Pairs are grouped by student row (CSR): pairs[0..=n_student] are offsets into the teacher
// index list that follows at pairs[n_student + 1 ..]. Entry points run in order: teacher
// probabilities; per student row its loss and its logits' gradient (the head's softmax
// cross-entropy forward and backward fused: no log-probability tensor); the mean.

struct Params {
    n_teacher: u32, n_student: u32, k: u32, n_pairs: u32,
    inv_tau_t: f32, inv_tau_s: f32, weight: f32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> teacher: array<f32>;            // [n_teacher, k] logits
@group(0) @binding(2) var<storage, read> centre: array<f32>;             // [k]
@group(0) @binding(3) var<storage, read> pairs: array<u32>;              // [n_student + 1 + n_pairs]
@group(0) @binding(4) var<storage, read_write> teacher_probs: array<f32>; // [n_teacher, k]
@group(0) @binding(5) var<storage, read> student: array<f32>;            // [n_student, k] logits
@group(0) @binding(6) var<storage, read_write> row_loss: array<f32>;      // [n_student]
@group(0) @binding(7) var<storage, read_write> loss: array<f32>;          // [1]
@group(0) @binding(8) var<storage, read_write> grad_student: array<f32>;  // [n_student, k] weight * dL/ds

// #import workgroup_reduce

@compute @workgroup_size(256)
fn dino_teacher_probs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.n_teacher) { return; }
    let base = row * p.k;
    var m = -3.0e38;
    for (var j = li; j < p.k; j += 256u) { m = max(m, (teacher[base + j] - centre[j]) * p.inv_tau_t); }
    let row_max = workgroup_max(li, m);
    var s = 0.0;
    for (var j = li; j < p.k; j += 256u) { s += exp((teacher[base + j] - centre[j]) * p.inv_tau_t - row_max); }
    let inv_sum = 1.0 / workgroup_sum(li, s);
    for (var j = li; j < p.k; j += 256u) {
        teacher_probs[base + j] = exp((teacher[base + j] - centre[j]) * p.inv_tau_t - row_max) * inv_sum;
    }
}

// Per student row r with n_r pairs, in one pass after the row's max and sum: the summed
// cross-entropy of its pairs and the gradient of weight * L with respect to its logits,
//   dL/ds_r = weight / (P tau_s) * (n_r softmax(s_r / tau_s) - sum_{t in pairs(r)} p_t).
@compute @workgroup_size(256)
fn dino_student_loss_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) li: u32) {
    let row = wg.y * nwg.x + wg.x;
    if (row >= p.n_student) { return; } // the whole workgroup
    let base = row * p.k;
    var m = -3.0e38;
    for (var j = li; j < p.k; j += 256u) { m = max(m, student[base + j] * p.inv_tau_s); }
    let row_max = workgroup_max(li, m);
    var s = 0.0;
    for (var j = li; j < p.k; j += 256u) { s += exp(student[base + j] * p.inv_tau_s - row_max); }
    let log_sum = row_max + log(workgroup_sum(li, s));
    let first = pairs[row];
    let last = pairs[row + 1u];
    let n_r = f32(last - first);
    let coef = p.weight * p.inv_tau_s / f32(max(p.n_pairs, 1u));
    var loss_part = 0.0;
    for (var j = li; j < p.k; j += 256u) {
        let logp = student[base + j] * p.inv_tau_s - log_sum;
        var target_sum = 0.0;
        for (var e = first; e < last; e++) {
            target_sum += teacher_probs[pairs[p.n_student + 1u + e] * p.k + j];
        }
        loss_part -= target_sum * logp;
        grad_student[base + j] = coef * (n_r * exp(logp) - target_sum);
    }
    let total = workgroup_sum(li, loss_part);
    if (li == 0u) { row_loss[row] = total; }
}

@compute @workgroup_size(256)
fn dino_loss_mean(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var r = li; r < p.n_student; r += 256u) { s += row_loss[r]; }
    let total = workgroup_sum(li, s);
    if (li == 0u) { loss[0] = total / f32(max(p.n_pairs, 1u)); }
}
