// Batched matmul for CPU Vulkan drivers with 8-lane subgroups (lavapipe on 256-bit SIMD).
// There every invocation is one SIMD lane and every storage load is a per-lane loop, so loads,
// not FMAs, bound the speed. Here the eight lanes of a subgroup share one block of 16 rows:
// each lane loads 1/8 of the A values the block needs and hands them to the others with
// subgroupShuffle (a register move); the lane's own B values cover its 4 columns. A subgroup
// computes 16 rows x 32 columns, a 64-invocation workgroup 128 rows x 32 columns. Rows and
// columns past the edge are clamped on load and skipped on store. The host picks these kernels
// only when the adapter's subgroups are exactly 8 lanes. Layouts (K % 4 == 0 where vec4
// loads run along K, N % 4 == 0 where they run along N):
//   matmul_sg_nt: A [batch, M, K], B [batch or 1, N, K]   C[m, n] = dot(A[m, :], B[n, :])
//   matmul_sg_nn: A [batch, M, K], B [batch or 1, K, N]   C[m, n] = sum_k A[m, k] B[k, n]
//   matmul_sg_tn: A stored [batch, K, M] (M % 4 == 0), B [batch or 1, K, N]
// Flags as lib/matmul_common.wgsl.

// #import matmul_common

const ROWS: u32 = 16u;          // rows of C per subgroup
const SUBGROUPS: u32 = 8u;      // per workgroup of 64
const WG_ROWS: u32 = ROWS * SUBGROUPS;
const WG_COLS: u32 = 32u;       // 8 lanes x 4 columns

// Row offset of A (in vec4) for the row this lane loads: lane l holds rows l and 8 + l.
fn a_row4(batch: u32, row: u32) -> u32 {
    return (batch * p.a_bs + min(row, p.m - 1u) * p.a_rs) / 4u;
}

fn store_block(batch_out: u32, row0: u32, col0: u32, acc: array<vec4<f32>, ROWS>) {
    for (var i = 0u; i < ROWS; i++) { store_row4(batch_out, row0 + i, col0, acc[i]); }
}

@compute @workgroup_size(64, 1, 1)
fn matmul_sg_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_id) sid: u32,
                @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = wg.y * WG_ROWS + sid * ROWS;
    let col0 = wg.x * WG_COLS + lane * 4u;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    let col4 = min(col0, p.n - 4u) / 4u;
    var acc: array<vec4<f32>, ROWS>;
    for (var bb = 0u; bb < select(1u, p.batch, sum_batch); bb++) {
        let batch = select(wg.z, bb, sum_batch);
        let ra_lo = a_row4(batch, row0 + lane);
        let ra_hi = a_row4(batch, row0 + 8u + lane);
        let b_base = (batch * p.b_bs) / 4u + col4;
        for (var kk = 0u; kk < k4; kk++) {
            let a_lo = a4[ra_lo + kk]; // A[row0 + lane, 4kk .. 4kk + 4]
            let a_hi = a4[ra_hi + kk];
            let bo = b_base + kk * 4u * n4;
            let b0 = b[bo];
            let b1 = b[bo + n4];
            let b2 = b[bo + 2u * n4];
            let b3 = b[bo + 3u * n4];
            for (var i = 0u; i < 8u; i++) {
                let lo = subgroupShuffle(a_lo, i);
                acc[i] += lo.x * b0 + lo.y * b1 + lo.z * b2 + lo.w * b3;
                let hi = subgroupShuffle(a_hi, i);
                acc[8u + i] += hi.x * b0 + hi.y * b1 + hi.z * b2 + hi.w * b3;
            }
        }
    }
    store_block(select(wg.z, 0u, sum_batch), row0, col0, acc);
}

@compute @workgroup_size(64, 1, 1)
fn matmul_sg_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_id) sid: u32,
                @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = wg.y * WG_ROWS + sid * ROWS;
    let col0 = wg.x * WG_COLS + lane * 4u;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let k4 = p.k / 4u;
    var acc: array<vec4<f32>, ROWS>;
    for (var bb = 0u; bb < select(1u, p.batch, sum_batch); bb++) {
        let batch = select(wg.z, bb, sum_batch);
        let ra_lo = a_row4(batch, row0 + lane);
        let ra_hi = a_row4(batch, row0 + 8u + lane);
        var rb: array<u32, 4>; // B's rows for this lane's columns, in vec4
        for (var j = 0u; j < 4u; j++) {
            rb[j] = (batch * p.b_bs) / 4u + min(col0 + j, p.n - 1u) * k4;
        }
        for (var kk = 0u; kk < k4; kk++) {
            let a_lo = a4[ra_lo + kk];
            let a_hi = a4[ra_hi + kk];
            let b0 = b[rb[0] + kk];
            let b1 = b[rb[1] + kk];
            let b2 = b[rb[2] + kk];
            let b3 = b[rb[3] + kk];
            for (var i = 0u; i < 8u; i++) {
                let lo = subgroupShuffle(a_lo, i);
                acc[i] += vec4<f32>(dot(lo, b0), dot(lo, b1), dot(lo, b2), dot(lo, b3));
                let hi = subgroupShuffle(a_hi, i);
                acc[8u + i] += vec4<f32>(dot(hi, b0), dot(hi, b1), dot(hi, b2), dot(hi, b3));
            }
        }
    }
    store_block(select(wg.z, 0u, sum_batch), row0, col0, acc);
}

// A stored transposed: A(m, k) at a_bs * batch + k * a_cs + m. Per four k the block needs
// 4 k x 4 row-quads = 16 vec4 of A: lane l loads (k + l / 4, quad l % 4) and
// (k + 2 + l / 4, quad l % 4). A tail of K % 4 is read directly by every lane.
@compute @workgroup_size(64, 1, 1)
fn matmul_sg_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_id) sid: u32,
                @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = wg.y * WG_ROWS + sid * ROWS;
    let col0 = wg.x * WG_COLS + lane * 4u;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    let a_c4 = p.a_cs / 4u;
    let col4 = min(col0, p.n - 4u) / 4u;
    // This lane's row quad, clamped (M % 4 == 0 keeps it whole).
    let quad_row = min(row0 + 4u * (lane % 4u), p.m - 4u) / 4u;
    var acc: array<vec4<f32>, ROWS>;
    for (var bb = 0u; bb < select(1u, p.batch, sum_batch); bb++) {
        let batch = select(wg.z, bb, sum_batch);
        let a_base = (batch * p.a_bs) / 4u + quad_row;
        let b_base = (batch * p.b_bs) / 4u + col4;
        for (var kk = 0u; kk < k4; kk++) {
            let k0 = kk * 4u;
            let a_lo = a4[a_base + (k0 + lane / 4u) * a_c4];
            let a_hi = a4[a_base + (k0 + 2u + lane / 4u) * a_c4];
            for (var dk = 0u; dk < 4u; dk++) {
                let bv = b[b_base + (k0 + dk) * n4];
                for (var q = 0u; q < 4u; q++) {
                    let src = (dk % 2u) * 4u + q;
                    let v = subgroupShuffle(select(a_lo, a_hi, dk >= 2u), src);
                    acc[4u * q] += v.x * bv;
                    acc[4u * q + 1u] += v.y * bv;
                    acc[4u * q + 2u] += v.z * bv;
                    acc[4u * q + 3u] += v.w * bv;
                }
            }
        }
        for (var k = k4 * 4u; k < p.k; k++) {
            let bv = b[b_base + k * n4];
            for (var q = 0u; q < 4u; q++) {
                let v = a4[(batch * p.a_bs) / 4u + min(row0 + 4u * q, p.m - 4u) / 4u + k * a_c4];
                acc[4u * q] += v.x * bv;
                acc[4u * q + 1u] += v.y * bv;
                acc[4u * q + 2u] += v.z * bv;
                acc[4u * q + 3u] += v.w * bv;
            }
        }
    }
    store_block(select(wg.z, 0u, sum_batch), row0, col0, acc);
}
