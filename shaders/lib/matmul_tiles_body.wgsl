// The 128 x 128 tile product of matmul_tiles.wgsl (f32 workgroup tiles) and
// matmul_tiles_f16.wgsl (operands rounded to f16 as they are staged, f32 accumulation): the
// including file defines `alias tile_t` (f32 or f16) and imports matmul_common before this.
// How it works and why its indices stay in range: matmul_tiles.wgsl's header.

const TILE: u32 = 128u;
const TILE_K: u32 = 8u;
// vec4 per operand per buffer: TILE_K rows of 32 vec4.
const SLAB: u32 = TILE_K * TILE / 4u;

// [operand (A, B)][buffer][TILE_K][TILE / 4]: slab `2 operand + buffer`, vec4 along M or N.
var<workgroup> tiles: array<vec4<tile_t>, 4u * SLAB>;

// An operand seen as `rows` x K (A: M x K; B: N x K): element (r, k) at base + r rs + k ks.
struct Operand { base: u32, rows: u32, rs: u32, ks: u32 }

// The vec4 this invocation loads for the step at k0 of a tile starting at row0: its index in
// the operand as vec4 (x) and 1 where it lies inside the operand (y). Along K (ks == 1) two
// vec4 cover a row of the tile; along the rows (rs == 1) 32 vec4 cover a k. Indices past the
// edges are clamped to the operand's last row and k.
fn slab_load(along_k: bool, o: Operand, row0: u32, k0: u32, li: u32) -> vec2<u32> {
    if (along_k) {
        let r = row0 + (li >> 1u);
        let k = k0 + ((li & 1u) << 2u);
        let i = o.base + min(r, o.rows - 1u) * o.rs + min(k, p.k - 4u);
        return vec2<u32>(i >> 2u, u32(r < o.rows && k < p.k));
    }
    let k = k0 + (li >> 5u);
    let r = row0 + ((li & 31u) << 2u);
    let i = o.base + min(r, o.rows - 4u) + min(k, p.k - 1u) * o.ks;
    return vec2<u32>(i >> 2u, u32(r < o.rows && k < p.k));
}

// This invocation's vec4 of A, B for the step at (batch, k0), zero outside: A (m, k) at
// batch a_bs + m a_rs + k a_cs, B (k, n) at batch b_bs + k b_rs + n b_cs.
fn load_a(a_k: bool, batch: u32, k0: u32, row0: u32, li: u32) -> vec4<f32> {
    let at = slab_load(a_k, Operand(batch * p.a_bs, p.m, p.a_rs, p.a_cs), row0, k0, li);
    return select(vec4<f32>(0.0), a4[at.x], at.y == 1u);
}

fn load_b(b_k: bool, batch: u32, k0: u32, col0: u32, li: u32) -> vec4<f32> {
    let at = slab_load(b_k, Operand(batch * p.b_bs, p.n, p.b_cs, p.b_rs), col0, k0, li);
    return select(vec4<f32>(0.0), b[at.x], at.y == 1u);
}

// Stores an invocation's loaded vec4 into `slab`, k-major: a vec4 along K is scattered over
// four k rows (at row li / 2 of the tile), a vec4 along the tile's rows is stored whole.
fn store_slab(along_k: bool, slab: u32, li: u32, v: vec4<f32>) {
    let base = slab * SLAB;
    if (along_k) {
        let row = li >> 1u;
        let at = base + ((li & 1u) << 2u) * 32u + (row >> 2u);
        let lane = row & 3u;
        tiles[at][lane] = tile_t(v.x);
        tiles[at + 32u][lane] = tile_t(v.y);
        tiles[at + 64u][lane] = tile_t(v.z);
        tiles[at + 96u][lane] = tile_t(v.w);
    } else {
        tiles[base + li] = vec4<tile_t>(v);
    }
}

// The product of one tile for the layout (a_k: A runs along K, else along M; b_k: B along K,
// else along N). Called with constant layouts, so each entry point's code is specialised.
fn tile_product(a_k: bool, b_k: bool, wg: vec3<u32>, t: vec2<u32>) {
    let li = t.y * 16u + t.x;
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let k_steps = (p.k + TILE_K - 1u) / TILE_K;
    // Steps run over (batch, k): every batch when summing over it, else this workgroup's.
    let steps = select(1u, p.batch, sum_batch) * k_steps;
    // acc[2 i + g]: row i of the invocation's 8 (i < 4: ty*4 + i, else 64 + ty*4 + i - 4),
    // columns of group g (tx*4 .. +4, 64 + tx*4 .. +4). Indexed by constants only, so it
    // lives in registers.
    var acc: array<vec4<f32>, 16>;
    if (steps > 0u) {
        let b0 = select(wg.z, 0u, sum_batch);
        store_slab(a_k, 0u, li, load_a(a_k, b0, 0u, row0, li));
        store_slab(b_k, 2u, li, load_b(b_k, b0, 0u, col0, li));
    }
    workgroupBarrier();
    var buf = 0u;
    for (var s = 0u; s < steps; s++) {
        let more = s + 1u < steps;
        var next_a = vec4<f32>(0.0);
        var next_b = vec4<f32>(0.0);
        if (more) {
            let batch = select(wg.z, (s + 1u) / k_steps, sum_batch);
            let k0 = ((s + 1u) % k_steps) * TILE_K;
            next_a = load_a(a_k, batch, k0, row0, li);
            next_b = load_b(b_k, batch, k0, col0, li);
        }
        let base = buf * SLAB;
        for (var kk = 0u; kk < TILE_K; kk++) {
            let at = base + kk * 32u;
            let a_lo = vec4<f32>(tiles[at + t.y]);
            let a_hi = vec4<f32>(tiles[at + 16u + t.y]);
            let b_lo = vec4<f32>(tiles[2u * SLAB + at + t.x]);
            let b_hi = vec4<f32>(tiles[2u * SLAB + at + 16u + t.x]);
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
            store_slab(a_k, 1u - buf, li, next_a);
            store_slab(b_k, 3u - buf, li, next_b);
        }
        workgroupBarrier();
        buf = 1u - buf;
    }
    let out = select(wg.z, 0u, sum_batch);
    let r = row0 + t.y * 4u;
    let lo = col0 + t.x * 4u;
    let hi = lo + 64u;
    store_row4(out, r, lo, acc[0]);
    store_row4(out, r, hi, acc[1]);
    store_row4(out, r + 1u, lo, acc[2]);
    store_row4(out, r + 1u, hi, acc[3]);
    store_row4(out, r + 2u, lo, acc[4]);
    store_row4(out, r + 2u, hi, acc[5]);
    store_row4(out, r + 3u, lo, acc[6]);
    store_row4(out, r + 3u, hi, acc[7]);
    store_row4(out, r + 64u, lo, acc[8]);
    store_row4(out, r + 64u, hi, acc[9]);
    store_row4(out, r + 65u, lo, acc[10]);
    store_row4(out, r + 65u, hi, acc[11]);
    store_row4(out, r + 66u, lo, acc[12]);
    store_row4(out, r + 66u, hi, acc[13]);
    store_row4(out, r + 67u, lo, acc[14]);
    store_row4(out, r + 67u, hi, acc[15]);
}
