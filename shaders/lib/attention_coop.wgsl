// Shared by the cooperative-matrix attention kernels (attention_coop{8,16}_{forward,backward}.wgsl,
// head_dim 64, f16-mixed): the products QK^T, PV and their gradients' products on S x S x S
// matrices (f16 x f16 -> f32), the softmax and everything else in f32 by the lanes.
//
// A workgroup of 64 invocations takes one head of one image and its subgroups take S rows
// each (queries, or keys in the key/value gradient), the first at row (x / CHUNKS * subgroups
// + subgroup) * S where x is the workgroup's x; of the 64 head columns it computes COLS, chunk
// x % CHUNKS (S = 8: two chunks of 32; S = 16: one of 64). A subgroup stages its own rows in
// own_a (and own_b), rounded to f16, zero past the last token; the rows of the other side are
// staged S at a time in shared_a / shared_b by the whole workgroup. A score tile (own rows x
// staged rows, S x S) goes through the subgroup's f32 scratch, where lane r < S (subgroups
// hold at least S lanes: kernels::coop_attention_max_subgroups) turns its row into
// probabilities (or gradients), which go back as f16 to be the A operand of the next product.
// Every loop runs over p.tokens for every subgroup, so the barriers are uniform; no
// cooperative operation sits under a lane-dependent branch.
//
// The including file defines S, MAX_SG, mat_a, mat_b and mat_c, imports attention_common
// and binds qkv4 (vec4 f32).

// #import f16_round

const D: u32 = 64u;             // head_dim
const D4: u32 = D / 4u;         // vec4 per head row
const SS: u32 = S * S;          // one tile
const PANEL: u32 = S * D;       // f16 values of S head rows
const COLS: u32 = 4u * S;       // head columns per workgroup: four accumulators
const CHUNKS: u32 = D / COLS;
const COOP_THREADS: u32 = 64u;

var<workgroup> shared_a: array<f16, PANEL>;          // [S][D] keys (forward, query gradient) / q rows
var<workgroup> shared_b: array<f16, PANEL>;          // [S][D] values / dO rows
var<workgroup> own_a: array<f16, MAX_SG * PANEL>;    // per subgroup [S][D]: q rows / k rows
var<workgroup> scores: array<f32, MAX_SG * SS>;      // per subgroup [S][S]: scores, then outputs
var<workgroup> probs: array<f16, MAX_SG * SS>;       // per subgroup [S][S]: P (or P^T)

// The rows a subgroup owns: image b, head h, first row r0, column chunk, its scratch slot
// and whether it computes anything (a workgroup never holds more than MAX_SG subgroups where
// the launcher runs these kernels; `live` keeps a larger one from writing).
struct CoopRows { b: u32, h: u32, r0: u32, chunk: u32, slot: u32, live: bool }

fn coop_rows(wg: vec3<u32>, sid: u32, nsg: u32) -> CoopRows {
    let chunk = wg.x % CHUNKS;
    let r0 = ((wg.x / CHUNKS) * nsg + sid) * S;
    return CoopRows(wg.y / p.heads, wg.y % p.heads, r0, chunk, min(sid, MAX_SG - 1u), sid < MAX_SG);
}

// vec4 c4 of part `part` (0 q, 1 k, 2 v) of token t, head h, image b, rounded to f16; zero
// past the last token.
fn qkv_f16(b: u32, t: u32, part: u32, h: u32, c4: u32) -> vec4<f16> {
    if (t >= p.tokens) { return vec4<f16>(0.0h); }
    return vec4<f16>(f16_round(qkv4[qkv_offset(b, t, part, h) / 4u + c4]));
}

fn put_shared_a(at: u32, v: vec4<f16>) {
    shared_a[at] = v.x;
    shared_a[at + 1u] = v.y;
    shared_a[at + 2u] = v.z;
    shared_a[at + 3u] = v.w;
}
fn put_shared_b(at: u32, v: vec4<f16>) {
    shared_b[at] = v.x;
    shared_b[at + 1u] = v.y;
    shared_b[at + 2u] = v.z;
    shared_b[at + 3u] = v.w;
}
fn put_own_a(at: u32, v: vec4<f16>) {
    own_a[at] = v.x;
    own_a[at + 1u] = v.y;
    own_a[at + 2u] = v.z;
    own_a[at + 3u] = v.w;
}
fn put_probs(at: u32, v: vec4<f32>) {
    let h = vec4<f16>(f16_round(v));
    probs[at] = h.x;
    probs[at + 1u] = h.y;
    probs[at + 2u] = h.z;
    probs[at + 3u] = h.w;
}

// The subgroup's own rows' part `part`, rounded to f16, into own_a.
fn stage_own_a(r: CoopRows, part: u32, lane: u32, lanes: u32) {
    if (!r.live) { return; }
    for (var e = lane; e < PANEL / 4u; e += lanes) {
        put_own_a(r.slot * PANEL + e * 4u, qkv_f16(r.b, r.r0 + e / D4, part, r.h, e % D4));
    }
}

// The keys and values of tokens j0 .. j0 + S into shared_a / shared_b, by the whole
// workgroup, between barriers (the previous tile's readers are done first).
fn stage_keys_values(b: u32, h: u32, j0: u32, li: u32) {
    workgroupBarrier();
    for (var e = li; e < PANEL / 4u; e += COOP_THREADS) {
        put_shared_a(e * 4u, qkv_f16(b, j0 + e / D4, 1u, h, e % D4));
        put_shared_b(e * 4u, qkv_f16(b, j0 + e / D4, 2u, h, e % D4));
    }
    workgroupBarrier();
}

// scores[slot] = own_a[slot] (S x D) times shared_a transposed (D x S), in f32.
fn score_tile(slot: u32) {
    let own = slot * PANEL;
    var acc = mat_c();
    for (var d0 = 0u; d0 < D; d0 += S) {
        let a = coopLoadT<mat_a>(&own_a[own + d0], D);
        let kt = coopLoad<mat_b>(&shared_a[d0], D);
        acc = coopMultiplyAdd(a, kt, acc);
    }
    let at = slot * SS;
    coopStoreT(acc, &scores[at], S);
}

// The subgroup's share of one S x S output tile: through its scratch to `dst` (callers'
// write_output), rows from r.r0, head columns from col.
fn output_tile(acc: mat_c, r: CoopRows, lane: u32, lanes: u32, part: u32, col: u32) {
    let at = r.slot * SS;
    coopStoreT(acc, &scores[at], S);
    workgroupBarrier();
    if (r.live) {
        for (var e = lane; e < SS; e += lanes) {
            let row = r.r0 + e / S;
            if (row < p.tokens) {
                write_output(r.b, row, part, r.h, col + e % S, scores[at + e]);
            }
        }
    }
    workgroupBarrier();
}
