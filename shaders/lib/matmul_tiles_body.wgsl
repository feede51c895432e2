// The tile product of matmul_tiles.wgsl (128 x 128), matmul_tiles_wide.wgsl (64 x 128),
// matmul_tiles_tall.wgsl (128 x 64) and matmul_tiles_f16.wgsl (128 x 128, operands rounded to
// f16 as they are staged, f32 accumulation). The including file defines TILE_M and TILE_N
// (the rows and columns of C a workgroup computes, each 64 or 128), `alias tile_t` (f32 or
// f16), and imports matmul_common before this. How it works and why its indices stay in
// range: matmul_tiles.wgsl's header.

const TILE_K: u32 = 8u;
// The workgroup: (TILE_N / 8) x (TILE_M / 8) invocations, each computing 8 x 8 of C.
const WG_X: u32 = TILE_N / 8u;
const WG_Y: u32 = TILE_M / 8u;
const INVOCATIONS: u32 = WG_X * WG_Y;
// vec4 per k of each operand's slab (along M for A, along N for B), and per slab.
const ROW4_A: u32 = TILE_M / 4u;
const ROW4_B: u32 = TILE_N / 4u;
const SLAB_A: u32 = TILE_K * ROW4_A;
const SLAB_B: u32 = TILE_K * ROW4_B;
// vec4 each invocation loads per step and operand: 1, or 2 for the long side of a narrow tile.
const LOADS_A: u32 = SLAB_A / INVOCATIONS;
const LOADS_B: u32 = SLAB_B / INVOCATIONS;

// [buffer][TILE_K][ROW4_A] and [buffer][TILE_K][ROW4_B]: k-major, vec4 along M or N.
var<workgroup> tiles_a: array<vec4<tile_t>, 2u * SLAB_A>;
var<workgroup> tiles_b: array<vec4<tile_t>, 2u * SLAB_B>;

// An operand seen as `rows` x K (A: M x K; B: N x K): element (r, k) at base + r rs + k ks.
struct Operand { base: u32, rows: u32, rs: u32, ks: u32 }

// Vec4 number `li` (below 8 row4) of the slab at k0 of a tile starting at row0, for an
// operand whose slab holds `row4` vec4 per k: its index in the operand as vec4 (x) and 1
// where it lies inside the operand (y). Along K (ks == 1) two vec4 cover a row of the tile;
// along the rows (rs == 1) row4 vec4 cover a k. Indices past the edges are clamped to the
// operand's last row and k.
fn slab_load(along_k: bool, o: Operand, row4: u32, row0: u32, k0: u32, li: u32) -> vec2<u32> {
    if (along_k) {
        let r = row0 + (li >> 1u);
        let k = k0 + ((li & 1u) << 2u);
        let i = o.base + min(r, o.rows - 1u) * o.rs + min(k, p.k - 4u);
        return vec2<u32>(i >> 2u, u32(r < o.rows && k < p.k));
    }
    let k = k0 + li / row4;
    let r = row0 + (li % row4) * 4u;
    let i = o.base + min(r, o.rows - 4u) + min(k, p.k - 1u) * o.ks;
    return vec2<u32>(i >> 2u, u32(r < o.rows && k < p.k));
}

// Vec4 number `li` of A's, B's slab for the step at (batch, k0), zero outside: A (m, k) at
// batch a_bs + m a_rs + k a_cs, B (k, n) at batch b_bs + k b_rs + n b_cs.
fn load_a(a_k: bool, batch: u32, k0: u32, row0: u32, li: u32) -> vec4<f32> {
    let at = slab_load(a_k, Operand(batch * p.a_bs, p.m, p.a_rs, p.a_cs), ROW4_A, row0, k0, li);
    return select(vec4<f32>(0.0), a4[at.x], at.y == 1u);
}

fn load_b(b_k: bool, batch: u32, k0: u32, col0: u32, li: u32) -> vec4<f32> {
    let at = slab_load(b_k, Operand(batch * p.b_bs, p.n, p.b_cs, p.b_rs), ROW4_B, col0, k0, li);
    return select(vec4<f32>(0.0), b[at.x], at.y == 1u);
}

// Where loaded vec4 `li` goes in a k-major slab of `row4` vec4 per k: along K, lane
// (row % 4) of vec4 row / 4 in four consecutive k rows starting at the returned index; along
// the tile's rows, whole at li.
fn slab_index(along_k: bool, row4: u32, li: u32) -> u32 {
    if (along_k) {
        return ((li & 1u) << 2u) * row4 + ((li >> 1u) >> 2u);
    }
    return li;
}

fn store_a(along_k: bool, buf: u32, li: u32, v: vec4<f32>) {
    let at = buf * SLAB_A + slab_index(along_k, ROW4_A, li);
    if (along_k) {
        let lane = (li >> 1u) & 3u;
        tiles_a[at][lane] = tile_t(v.x);
        tiles_a[at + ROW4_A][lane] = tile_t(v.y);
        tiles_a[at + 2u * ROW4_A][lane] = tile_t(v.z);
        tiles_a[at + 3u * ROW4_A][lane] = tile_t(v.w);
    } else {
        tiles_a[at] = vec4<tile_t>(v);
    }
}

fn store_b(along_k: bool, buf: u32, li: u32, v: vec4<f32>) {
    let at = buf * SLAB_B + slab_index(along_k, ROW4_B, li);
    if (along_k) {
        let lane = (li >> 1u) & 3u;
        tiles_b[at][lane] = tile_t(v.x);
        tiles_b[at + ROW4_B][lane] = tile_t(v.y);
        tiles_b[at + 2u * ROW4_B][lane] = tile_t(v.z);
        tiles_b[at + 3u * ROW4_B][lane] = tile_t(v.w);
    } else {
        tiles_b[at] = vec4<tile_t>(v);
    }
}

// The product of one tile for the layout (a_k: A runs along K, else along M; b_k: B along K,
// else along N). Called with constant layouts, so each entry point's code is specialised.
fn tile_product(a_k: bool, b_k: bool, wg: vec3<u32>, t: vec2<u32>) {
    let li = t.y * WG_X + t.x;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let row0 = wg.y * TILE_M;
    let col0 = wg.x * TILE_N;
    let k_steps = (p.k + TILE_K - 1u) / TILE_K;
    // Steps run over (batch, k): every batch when summing over it, else this workgroup's.
    let steps = select(1u, p.batch, sum_batch) * k_steps;
    // acc[2 i + g]: row i of the invocation's 8 (i < 4: ty*4 + i, else TILE_M/2 + ty*4 + i - 4),
    // columns of group g (tx*4 .. +4, TILE_N/2 + tx*4 .. +4). Indexed by constants only, so
    // it lives in registers.
    var acc: array<vec4<f32>, 16>;
    // The next step's loads, in flight while this step multiplies.
    var next_a: array<vec4<f32>, LOADS_A>;
    var next_b: array<vec4<f32>, LOADS_B>;
    if (steps > 0u) {
        let b0 = select(wg.z, 0u, sum_batch);
        for (var j = 0u; j < LOADS_A; j++) {
            store_a(a_k, 0u, li + j * INVOCATIONS, load_a(a_k, b0, 0u, row0, li + j * INVOCATIONS));
        }
        for (var j = 0u; j < LOADS_B; j++) {
            store_b(b_k, 0u, li + j * INVOCATIONS, load_b(b_k, b0, 0u, col0, li + j * INVOCATIONS));
        }
    }
    workgroupBarrier();
    var buf = 0u;
    for (var s = 0u; s < steps; s++) {
        let more = s + 1u < steps;
        if (more) {
            let batch = select(wg.z, (s + 1u) / k_steps, sum_batch);
            let k0 = ((s + 1u) % k_steps) * TILE_K;
            for (var j = 0u; j < LOADS_A; j++) {
                next_a[j] = load_a(a_k, batch, k0, row0, li + j * INVOCATIONS);
            }
            for (var j = 0u; j < LOADS_B; j++) {
                next_b[j] = load_b(b_k, batch, k0, col0, li + j * INVOCATIONS);
            }
        }
        let base_a = buf * SLAB_A;
        let base_b = buf * SLAB_B;
        for (var kk = 0u; kk < TILE_K; kk++) {
            let at_a = base_a + kk * ROW4_A;
            let at_b = base_b + kk * ROW4_B;
            let a_lo = vec4<f32>(tiles_a[at_a + t.y]);
            let a_hi = vec4<f32>(tiles_a[at_a + ROW4_A / 2u + t.y]);
            let b_lo = vec4<f32>(tiles_b[at_b + t.x]);
            let b_hi = vec4<f32>(tiles_b[at_b + ROW4_B / 2u + t.x]);
            acc[0] = fma(vec4<f32>(a_lo.x), b_lo, acc[0]);
            acc[1] = fma(vec4<f32>(a_lo.x), b_hi, acc[1]);
            acc[2] = fma(vec4<f32>(a_lo.y), b_lo, acc[2]);
            acc[3] = fma(vec4<f32>(a_lo.y), b_hi, acc[3]);
            acc[4] = fma(vec4<f32>(a_lo.z), b_lo, acc[4]);
            acc[5] = fma(vec4<f32>(a_lo.z), b_hi, acc[5]);
            acc[6] = fma(vec4<f32>(a_lo.w), b_lo, acc[6]);
            acc[7] = fma(vec4<f32>(a_lo.w), b_hi, acc[7]);
            acc[8] = fma(vec4<f32>(a_hi.x), b_lo, acc[8]);
            acc[9] = fma(vec4<f32>(a_hi.x), b_hi, acc[9]);
            acc[10] = fma(vec4<f32>(a_hi.y), b_lo, acc[10]);
            acc[11] = fma(vec4<f32>(a_hi.y), b_hi, acc[11]);
            acc[12] = fma(vec4<f32>(a_hi.z), b_lo, acc[12]);
            acc[13] = fma(vec4<f32>(a_hi.z), b_hi, acc[13]);
            acc[14] = fma(vec4<f32>(a_hi.w), b_lo, acc[14]);
            acc[15] = fma(vec4<f32>(a_hi.w), b_hi, acc[15]);
        }
        if (more) {
            for (var j = 0u; j < LOADS_A; j++) {
                store_a(a_k, 1u - buf, li + j * INVOCATIONS, next_a[j]);
            }
            for (var j = 0u; j < LOADS_B; j++) {
                store_b(b_k, 1u - buf, li + j * INVOCATIONS, next_b[j]);
            }
        }
        workgroupBarrier();
        buf = 1u - buf;
    }
    let out = select(wg.z, 0u, sum_batch);
    let r = row0 + t.y * 4u;
    let r_hi = r + TILE_M / 2u;
    let lo = col0 + t.x * 4u;
    let hi = lo + TILE_N / 2u;
    store_row4(out, r, lo, acc[0]);
    store_row4(out, r, hi, acc[1]);
    store_row4(out, r + 1u, lo, acc[2]);
    store_row4(out, r + 1u, hi, acc[3]);
    store_row4(out, r + 2u, lo, acc[4]);
    store_row4(out, r + 2u, hi, acc[5]);
    store_row4(out, r + 3u, lo, acc[6]);
    store_row4(out, r + 3u, hi, acc[7]);
    store_row4(out, r_hi, lo, acc[8]);
    store_row4(out, r_hi, hi, acc[9]);
    store_row4(out, r_hi + 1u, lo, acc[10]);
    store_row4(out, r_hi + 1u, hi, acc[11]);
    store_row4(out, r_hi + 2u, lo, acc[12]);
    store_row4(out, r_hi + 2u, hi, acc[13]);
    store_row4(out, r_hi + 3u, lo, acc[14]);
    store_row4(out, r_hi + 3u, hi, acc[15]);
}
