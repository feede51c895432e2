// Batched matmul with strided operands: C[b] = alpha * op(A)[b] @ op(B)[b] (+ bias) (+ C[b]).
// op(A)[b] is M x K with element (m, k) at a[b * a_bs + m * a_rs + k * a_cs]; a transpose is
// just swapped strides, a broadcast operand has batch stride 0. C is dense [batch, M, N].
// Register tiling: a 16x16 workgroup computes a 64x64 tile of C, each thread a 4x4 block,
// over K in steps of TILE_K (16) staged in workgroup memory. With flag 4 the batch is part of the
// reduction (the gradient of a weight broadcast over the batch): C = sum_b op(A)[b] op(B)[b].

// #import matmul_strided

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;
const THREAD_M: u32 = 4u; // rows per thread, strided by 16
const THREAD_N: u32 = 4u; // columns per thread, strided by 16

var<workgroup> a_tile: array<f32, TILE_K * 64u>; // [TILE_K][TILE_M]
var<workgroup> b_tile: array<f32, TILE_K * 64u>; // [TILE_K][TILE_N]

@compute @workgroup_size(16, 16, 1)
fn matmul(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let row0 = wg.y * TILE_M;
    let col0 = wg.x * TILE_N;
    let full_rows = row0 + TILE_M <= p.m;
    let full_cols = col0 + TILE_N <= p.n;
    var acc: array<f32, 16>;
    let n_summed = select(1u, p.batch, sum_batch);
    for (var bb = 0u; bb < n_summed; bb++) {
    let batch = select(wg.z, bb, sum_batch);
    let a_base = batch * p.a_bs;
    let b_base = batch * p.b_bs;
    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
        let full_k = k0 + TILE_K <= p.k;
        for (var t = 0u; t < TILE_K / 4u; t++) { // TILE_K * 64 elements, 256 threads
            let idx = li + t * 256u;
            // A tile element (mm, kk); consecutive threads walk m when A is transposed-contiguous.
            let kk = idx / TILE_M;
            let mm = idx % TILE_M;
            let gm = row0 + mm;
            let gk = k0 + kk;
            var av = 0.0;
            if ((full_rows && full_k) || (gm < p.m && gk < p.k)) {
                av = a[a_base + gm * p.a_rs + gk * p.a_cs];
            }
            a_tile[kk * TILE_M + mm] = av;
            let nn = idx % TILE_N;
            let gn = col0 + nn;
            var bv = 0.0;
            if ((full_cols && full_k) || (gn < p.n && gk < p.k)) {
                bv = b[b_base + gk * p.b_rs + gn * p.b_cs];
            }
            b_tile[kk * TILE_N + nn] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < THREAD_M; i++) {
                ar[i] = a_tile[kk * TILE_M + lid.y + i * 16u];
            }
            for (var j = 0u; j < THREAD_N; j++) {
                br[j] = b_tile[kk * TILE_N + lid.x + j * 16u];
            }
            for (var i = 0u; i < THREAD_M; i++) {
                for (var j = 0u; j < THREAD_N; j++) {
                    acc[i * 4u + j] = fma(ar[i], br[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    }
    let c_base = select(wg.z * p.c_bs, 0u, sum_batch);
    for (var i = 0u; i < THREAD_M; i++) {
        let gm = row0 + lid.y + i * 16u;
        if (gm >= p.m) { continue; }
        for (var j = 0u; j < THREAD_N; j++) {
            let gn = col0 + lid.x + j * 16u;
            if (gn >= p.n) { continue; }
            epilogue_store(c_base + gm * p.n + gn, gn, p.alpha * acc[i * 4u + j]);
        }
    }
}
