// Teacher EMA over the flat parameter buffers: teacher <- m * teacher + (1 - m) * student.

struct Params { n: u32, momentum: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> student: array<f32>;        // [n]
@group(0) @binding(2) var<storage, read> health: array<u32>;         // [4]: no update unless health[0] == 1
@group(0) @binding(3) var<storage, read_write> teacher: array<f32>;  // [n]

@compute @workgroup_size(256)
fn ema_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= p.n || health[0] != 1u) { return; }
    teacher[i] = p.momentum * teacher[i] + (1.0 - p.momentum) * student[i];
}
