// Batched strided matmul with large register tiles, for discrete GPUs: a 16x16 workgroup
// computes a 128x128 tile of C, each invocation an 8x8 block (rows ty*4 .. +4 and 64 + ty*4
// .. +4, columns likewise), so every shared-memory read is a vec4 feeding 16 FMAs. K advances
// TILE_K (an override constant, 8 or 16) at a time through workgroup memory; A and B are
// staged k-major ([TILE_K][128]). Global loads walk the operand's contiguous dimension (K or M
// for A, K or N for B) so neighbouring invocations read neighbouring addresses. Operands,
// strides and flags as matmul.wgsl.

// #import matmul_strided

const TILE: u32 = 128u;
const MAX_TILE_K: u32 = 16u;
override TILE_K: u32 = 16u; // K per step: 8 or 16 (the tiles are sized for 16)

var<workgroup> a_tile: array<vec4<f32>, MAX_TILE_K * TILE / 4u>; // [TILE_K][TILE] as vec4 along M
var<workgroup> b_tile: array<vec4<f32>, MAX_TILE_K * TILE / 4u>; // [TILE_K][TILE] as vec4 along N

// Element `idx` of a TILE_K x TILE slab of an operand whose (row, k) element sits at
// base + row * rs + k * cs: returns (row, k) within the slab, walking k first when the
// operand is contiguous along k (cs == 1), else walking rows.
fn slab_coords(idx: u32, cs: u32) -> vec2<u32> {
    if (cs == 1u) { return vec2<u32>(idx / TILE_K, idx % TILE_K); }
    return vec2<u32>(idx % TILE, idx / TILE);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_large(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let full = row0 + TILE <= p.m && col0 + TILE <= p.n;
    var acc: array<vec4<f32>, 16>; // [8 rows][2 column groups]
    for (var bb = 0u; bb < select(1u, p.batch, sum_batch); bb++) {
        let batch = select(wg.z, bb, sum_batch);
        let a_base = batch * p.a_bs;
        let b_base = batch * p.b_bs;
        for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
            let full_k = full && k0 + TILE_K <= p.k;
            for (var t = 0u; t < TILE * TILE_K / 256u; t++) { // each operand's slab, 256 invocations
                let idx = li + t * 256u;
                // A: rows of C by k.
                let ac = slab_coords(idx, p.a_cs);
                let gm = row0 + ac.x;
                let gka = k0 + ac.y;
                var av = 0.0;
                if (full_k || (gm < p.m && gka < p.k)) {
                    av = a[a_base + gm * p.a_rs + gka * p.a_cs];
                }
                a_tile[(ac.y * TILE + ac.x) / 4u][ac.x % 4u] = av;
                // B: columns of C by k (B's (k, n) at k * b_rs + n * b_cs).
                let bc = slab_coords(idx, p.b_rs);
                let gn = col0 + bc.x;
                let gkb = k0 + bc.y;
                var bv = 0.0;
                if (full_k || (gn < p.n && gkb < p.k)) {
                    bv = b[b_base + gkb * p.b_rs + gn * p.b_cs];
                }
                b_tile[(bc.y * TILE + bc.x) / 4u][bc.x % 4u] = bv;
            }
            workgroupBarrier();
            for (var kk = 0u; kk < TILE_K; kk++) {
                let a_lo = a_tile[kk * 32u + lid.y];
                let a_hi = a_tile[kk * 32u + 16u + lid.y];
                let b_lo = b_tile[kk * 32u + lid.x];
                let b_hi = b_tile[kk * 32u + 16u + lid.x];
                for (var i = 0u; i < 4u; i++) {
                    acc[2u * i] = fma(vec4<f32>(a_lo[i]), b_lo, acc[2u * i]);
                    acc[2u * i + 1u] = fma(vec4<f32>(a_lo[i]), b_hi, acc[2u * i + 1u]);
                    acc[8u + 2u * i] = fma(vec4<f32>(a_hi[i]), b_lo, acc[8u + 2u * i]);
                    acc[8u + 2u * i + 1u] = fma(vec4<f32>(a_hi[i]), b_hi, acc[8u + 2u * i + 1u]);
                }
            }
            workgroupBarrier();
        }
    }
    let c_base = select(wg.z * p.c_bs, 0u, sum_batch);
    for (var r = 0u; r < 8u; r++) {
        let gm = row0 + select(64u + lid.y * 4u + r - 4u, lid.y * 4u + r, r < 4u);
        if (gm >= p.m) { continue; }
        for (var g = 0u; g < 2u; g++) {
            let v = acc[2u * r + g];
            for (var j = 0u; j < 4u; j++) {
                let gn = col0 + g * 64u + lid.x * 4u + j;
                if (gn < p.n) { epilogue_store(c_base + gm * p.n + gn, gn, p.alpha * v[j]); }
            }
        }
    }
}
