// The cooperative-matrix matmul (matmul_coop8.wgsl, matmul_coop16.wgsl: S x S x S matrices,
// f16 operands, f32 accumulation; tensor cores on NVIDIA, VK_KHR_cooperative_matrix on Mesa
// 26 lavapipe). The including file defines S, MAX_SG (most subgroups a 64-invocation workgroup
// may hold) and the matrix types mat_a, mat_b (f16) and mat_c (f32).
//
// Each subgroup computes its own block of 2S x 2S outputs as four accumulators, the blocks
// numbered along N, then M: workgroup w's subgroup s takes block w * num_subgroups + s (the
// host launches enough workgroups for its fewest subgroups; blocks past the end only load
// zeros and store nothing). Per K step of S the subgroup's lanes stage its A panel (2S x S)
// and B panel (S x 2S) from the strided f32 operands into workgroup memory, rounded to the
// nearest f16 (lib/f16_round.wgsl), zero past M, N or K; then two A and two B matrices load
// from there and four multiply-adds run. At the end each accumulator goes through a per-
// subgroup f32 scratch to the shared epilogue (alpha, bias, accumulate, GELU), element by
// element with bounds. Every subgroup runs the same number of K steps, so the barriers are
// uniform. Any strides (all layouts, broadcasts); FLAG_SUM_BATCH sums the batch into C[0].

// #import matmul_strided
// #import f16_round

const PANEL: u32 = 2u * S * S; // f16 values of one A (or B) panel
var<workgroup> a_panel: array<f16, MAX_SG * PANEL>;   // per subgroup: [2S rows][S k]
var<workgroup> b_panel: array<f16, MAX_SG * PANEL>;   // per subgroup: [S k][2S columns]
var<workgroup> c_scratch: array<f32, MAX_SG * S * S>; // per subgroup: [S][S]

// op(A)[batch](m, k), zero outside.
fn a_value(batch: u32, m: u32, k: u32) -> f32 {
    if (m >= p.m || k >= p.k) { return 0.0; }
    return a[batch * p.a_bs + m * p.a_rs + k * p.a_cs];
}

// op(B)[batch](k, n), zero outside.
fn b_value(batch: u32, k: u32, n: u32) -> f32 {
    if (k >= p.k || n >= p.n) { return 0.0; }
    return b[batch * p.b_bs + k * p.b_rs + n * p.b_cs];
}

// Four values rounded to f16 (ties to even, whatever the driver's conversion does).
fn to_f16(v: vec4<f32>) -> vec4<f16> {
    return vec4<f16>(f16_round(v));
}

// The subgroup's share of one accumulator: through its scratch to C, rows from m0, columns
// from n0.
fn store_block(acc: mat_c, sid: u32, lane: u32, lanes: u32, batch_out: u32, m0: u32, n0: u32, live: bool) {
    let base = sid * S * S;
    coopStoreT(acc, &c_scratch[base], S);
    workgroupBarrier();
    if (live) {
        for (var e = lane; e < S * S; e += lanes) {
            let m = m0 + e / S;
            let n = n0 + e % S;
            if (m < p.m && n < p.n) {
                epilogue_store(batch_out * p.c_bs + m * p.n + n, n, p.alpha * c_scratch[base + e]);
            }
        }
    }
    workgroupBarrier();
}

fn matmul_coop_body(wg: vec3<u32>, nwg: vec3<u32>, sid: u32, nsg: u32, lane: u32, lanes: u32) {
    let blocks_n = (p.n + 2u * S - 1u) / (2u * S);
    let blocks = blocks_n * ((p.m + 2u * S - 1u) / (2u * S));
    let block = (wg.y * nwg.x + wg.x) * nsg + sid;
    let live = block < blocks && sid < MAX_SG;
    let slot = min(sid, MAX_SG - 1u);
    let m0 = (block / max(blocks_n, 1u)) * 2u * S;
    let n0 = (block % max(blocks_n, 1u)) * 2u * S;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    var first = wg.z;
    var last = wg.z + 1u;
    if (sum_batch) { first = 0u; last = p.batch; }
    var acc00 = mat_c();
    var acc01 = mat_c();
    var acc10 = mat_c();
    var acc11 = mat_c();
    let pa = slot * PANEL;
    for (var batch = first; batch < last; batch++) {
        for (var k0 = 0u; k0 < p.k; k0 += S) {
            // Stage the panels, four values per lane and pass: A as [2S][S], B as [S][2S].
            for (var q = lane; q < PANEL / 4u; q += lanes) {
                let e = q * 4u;
                if (live) {
                    // A: row e / S, k (e % S) .. + 3
                    let ar = m0 + e / S;
                    let ak = k0 + e % S;
                    let av = vec4<f32>(a_value(batch, ar, ak), a_value(batch, ar, ak + 1u),
                                       a_value(batch, ar, ak + 2u), a_value(batch, ar, ak + 3u));
                    // B: k e / (2S), columns (e % 2S) .. + 3
                    let bk = k0 + e / (2u * S);
                    let bn = n0 + e % (2u * S);
                    let bv = vec4<f32>(b_value(batch, bk, bn), b_value(batch, bk, bn + 1u),
                                       b_value(batch, bk, bn + 2u), b_value(batch, bk, bn + 3u));
                    let ah = to_f16(av);
                    let bh = to_f16(bv);
                    for (var j = 0u; j < 4u; j++) {
                        a_panel[pa + e + j] = ah[j];
                        b_panel[pa + e + j] = bh[j];
                    }
                }
            }
            workgroupBarrier();
            let a0 = coopLoadT<mat_a>(&a_panel[pa], S);
            let a1 = coopLoadT<mat_a>(&a_panel[pa + S * S], S);
            let b0 = coopLoadT<mat_b>(&b_panel[pa], 2u * S);
            let b1 = coopLoadT<mat_b>(&b_panel[pa + S], 2u * S);
            acc00 = coopMultiplyAdd(a0, b0, acc00);
            acc01 = coopMultiplyAdd(a0, b1, acc01);
            acc10 = coopMultiplyAdd(a1, b0, acc10);
            acc11 = coopMultiplyAdd(a1, b1, acc11);
            workgroupBarrier();
        }
    }
    let batch_out = select(wg.z, 0u, sum_batch);
    store_block(acc00, slot, lane, lanes, batch_out, m0, n0, live);
    store_block(acc01, slot, lane, lanes, batch_out, m0, n0 + S, live);
    store_block(acc10, slot, lane, lanes, batch_out, m0 + S, n0, live);
    store_block(acc11, slot, lane, lanes, batch_out, m0 + S, n0 + S, live);
}
