// Gradient of weight * L_dino with respect to the student logits. For student row r with
// n_r pairs:  dL/ds_r = weight / (P tau_s) * (n_r softmax(s_r / tau_s) - sum_{t in pairs(r)} p_t).
// One thread per (row, k); pairs in the CSR layout of dino_loss_forward.

struct Params {
    n_student: u32, k: u32, n_pairs: u32, accumulate: u32,
    inv_tau_s: f32, weight: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> teacher_probs: array<f32>;      // [n_teacher, k]
@group(0) @binding(2) var<storage, read> student_logp: array<f32>;       // [n_student, k]
@group(0) @binding(3) var<storage, read> pairs: array<u32>;              // [n_student + 1 + n_pairs]
@group(0) @binding(4) var<storage, read_write> grad_student: array<f32>; // [n_student, k]

@compute @workgroup_size(256)
fn dino_loss_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let id = (wg.y * nwg.x + wg.x) * 256u + li;
    if (id >= p.n_student * p.k) { return; }
    let row = id / p.k;
    let j = id % p.k;
    let first = pairs[row];
    let last = pairs[row + 1u];
    var target_sum = 0.0;
    for (var e = first; e < last; e++) {
        target_sum += teacher_probs[pairs[p.n_student + 1u + e] * p.k + j];
    }
    let n_r = f32(last - first);
    var g = p.weight * p.inv_tau_s / f32(max(p.n_pairs, 1u)) * (n_r * exp(student_logp[id]) - target_sum);
    if (p.accumulate != 0u) { g += grad_student[id]; }
    grad_student[id] = g;
}
