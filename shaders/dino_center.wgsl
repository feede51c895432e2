// Centre EMA: c <- momentum * c + (1 - momentum) * mean over rows of this step's teacher logits.
// One thread per output dimension, rows summed in order.

struct Params { rows: u32, k: u32, momentum: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> teacher: array<f32>;         // [rows, k]
@group(0) @binding(2) var<storage, read> health: array<u32>;          // [4]: no update unless health[0] == 1
@group(0) @binding(3) var<storage, read_write> centre: array<f32>;    // [k]

@compute @workgroup_size(256)
fn dino_center_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
    let j = (wg.y * nwg.x + wg.x) * 256u + li;
    if (j >= p.k || health[0] != 1u) { return; }
    var s = 0.0;
    for (var r = 0u; r < p.rows; r++) { s += teacher[r * p.k + j]; }
    centre[j] = p.momentum * centre[j] + (1.0 - p.momentum) * s / f32(max(p.rows, 1u));
}
