// The cooperative-matrix attention backward (lib/attention_coop.wgsl), the formulas of
// attention_backward.wgsl with q, k, v and dO rounded to f16 as staged, P and dS rounded to
// f16 as the A operands of their products, lse, D = dO . O and the accumulation in f32:
//   coop_backward_query: S query rows per subgroup (q in own_a, dO in own_b); keys and values
//   staged S at a time; dQ = dS K;
//   coop_backward_key_value: S key rows per subgroup (k in own_a, v in own_b); the queries' q
//   and dO rows staged S at a time with their lse and D; dV = P^T dO, dK = dS^T Q.
// The including file binds out4, lse, dout4 (vec4 f32) and dqkv (f32).

var<workgroup> own_b: array<f16, MAX_SG * PANEL>;   // per subgroup [S][D]: dO rows / v rows
var<workgroup> scores2: array<f32, MAX_SG * SS>;    // per subgroup [S][S]: dP (or dP^T)
var<workgroup> probs2: array<f16, MAX_SG * SS>;     // per subgroup [S][S]: dS (or dS^T)
var<workgroup> tile_lse: array<f32, S>;             // the staged queries' lse
var<workgroup> tile_d: array<f32, S>;               // and D = dO . O

fn write_output(b: u32, row: u32, part: u32, h: u32, col: u32, value: f32) {
    dqkv[qkv_offset(b, row, part, h) + col] = value;
}

// vec4 c4 of dO's row t, head h, image b, rounded to f16 (in f32); zero past the last token.
fn dout_rounded(b: u32, t: u32, h: u32, c4: u32) -> vec4<f32> {
    if (t >= p.tokens) { return vec4<f32>(0.0); }
    return f16_round(dout4[((b * p.tokens + t) * p.heads + h) * D4 + c4]);
}

// D = dO . O of row t (clamped to the last token), dO rounded as the products see it.
fn row_d(b: u32, t: u32, h: u32) -> f32 {
    let i = min(t, p.tokens - 1u);
    let o = ((b * p.tokens + i) * p.heads + h) * D4;
    var d = 0.0;
    for (var c = 0u; c < D4; c++) { d += dot(dout_rounded(b, i, h, c), out4[o + c]); }
    return d;
}

fn put_own_b(at: u32, v: vec4<f16>) {
    own_b[at] = v.x;
    own_b[at + 1u] = v.y;
    own_b[at + 2u] = v.z;
    own_b[at + 3u] = v.w;
}
fn put_probs2(at: u32, v: vec4<f32>) {
    let h = vec4<f16>(f16_round(v));
    probs2[at] = h.x;
    probs2[at + 1u] = h.y;
    probs2[at + 2u] = h.z;
    probs2[at + 3u] = h.w;
}

// scores2[slot] = own_b[slot] (S x D) times shared_b transposed (D x S), in f32.
fn score_tile_b(slot: u32) {
    let own = slot * PANEL;
    var acc = mat_c();
    for (var d0 = 0u; d0 < D; d0 += S) {
        let a = coopLoadT<mat_a>(&own_b[own + d0], D);
        let bt = coopLoad<mat_b>(&shared_b[d0], D);
        acc = coopMultiplyAdd(a, bt, acc);
    }
    let at = slot * SS;
    coopStoreT(acc, &scores2[at], S);
}

fn coop_backward_query(wg: vec3<u32>, li: u32, sid: u32, nsg: u32, lane: u32, lanes: u32) {
    let r = coop_rows(wg, sid, nsg);
    stage_own_a(r, 0u, lane, lanes);
    if (r.live) {
        for (var e = lane; e < PANEL / 4u; e += lanes) {
            put_own_b(r.slot * PANEL + e * 4u, vec4<f16>(dout_rounded(r.b, r.r0 + e / D4, r.h, e % D4)));
        }
    }
    let i = min(r.r0 + lane, p.tokens - 1u);
    let row_at = r.slot * SS + lane * S;
    var di = 0.0;
    var row_lse = 0.0;
    if (lane < S) {
        di = row_d(r.b, i, r.h);
        row_lse = lse[(r.b * p.heads + r.h) * p.tokens + i];
    }
    let col0 = r.chunk * COLS;
    var acc0 = mat_c();
    var acc1 = mat_c();
    var acc2 = mat_c();
    var acc3 = mat_c();
    for (var j0 = 0u; j0 < p.tokens; j0 += S) {
        stage_keys_values(r.b, r.h, j0, li);
        score_tile(r.slot);
        score_tile_b(r.slot);
        workgroupBarrier();
        if (lane < S) {
            for (var c = 0u; c < S; c += 4u) {
                var ds = vec4<f32>(0.0);
                for (var t = 0u; t < 4u; t++) {
                    let j = j0 + c + t;
                    if (j < p.tokens && attends(i, j)) {
                        let pij = exp(scores[row_at + c + t] * p.scale - row_lse);
                        ds[t] = pij * (scores2[row_at + c + t] - di) * p.scale;
                    }
                }
                put_probs(row_at + c, ds);
            }
        }
        workgroupBarrier();
        let pa = r.slot * SS;
        let dsm = coopLoadT<mat_a>(&probs[pa], S);
        acc0 = coopMultiplyAdd(dsm, coopLoadT<mat_b>(&shared_a[col0], D), acc0);
        acc1 = coopMultiplyAdd(dsm, coopLoadT<mat_b>(&shared_a[col0 + S], D), acc1);
        acc2 = coopMultiplyAdd(dsm, coopLoadT<mat_b>(&shared_a[col0 + 2u * S], D), acc2);
        acc3 = coopMultiplyAdd(dsm, coopLoadT<mat_b>(&shared_a[col0 + 3u * S], D), acc3);
    }
    output_tile(acc0, r, lane, lanes, 0u, col0);
    output_tile(acc1, r, lane, lanes, 0u, col0 + S);
    output_tile(acc2, r, lane, lanes, 0u, col0 + 2u * S);
    output_tile(acc3, r, lane, lanes, 0u, col0 + 3u * S);
}

fn coop_backward_key_value(wg: vec3<u32>, li: u32, sid: u32, nsg: u32, lane: u32, lanes: u32) {
    let r = coop_rows(wg, sid, nsg);
    stage_own_a(r, 1u, lane, lanes);
    if (r.live) {
        for (var e = lane; e < PANEL / 4u; e += lanes) {
            put_own_b(r.slot * PANEL + e * 4u, qkv_f16(r.b, r.r0 + e / D4, 2u, r.h, e % D4));
        }
    }
    let j = min(r.r0 + lane, p.tokens - 1u);  // lane < S: this lane's key row (clamped)
    let row_at = r.slot * SS + lane * S;
    let col0 = r.chunk * COLS;
    var dk0 = mat_c();
    var dk1 = mat_c();
    var dk2 = mat_c();
    var dk3 = mat_c();
    var dv0 = mat_c();
    var dv1 = mat_c();
    var dv2 = mat_c();
    var dv3 = mat_c();
    for (var i0 = 0u; i0 < p.tokens; i0 += S) {
        // Queries i0 .. i0 + S: q rows, dO rows, their lse and D.
        workgroupBarrier();
        for (var e = li; e < PANEL / 4u; e += COOP_THREADS) {
            put_shared_a(e * 4u, qkv_f16(r.b, i0 + e / D4, 0u, r.h, e % D4));
            put_shared_b(e * 4u, vec4<f16>(dout_rounded(r.b, i0 + e / D4, r.h, e % D4)));
        }
        if (li < S) {
            let i = min(i0 + li, p.tokens - 1u);
            tile_lse[li] = lse[(r.b * p.heads + r.h) * p.tokens + i];
            tile_d[li] = row_d(r.b, i, r.h);
        }
        workgroupBarrier();
        score_tile(r.slot);
        score_tile_b(r.slot);
        workgroupBarrier();
        if (lane < S) {
            for (var c = 0u; c < S; c += 4u) {
                var w = vec4<f32>(0.0);
                var ds = vec4<f32>(0.0);
                for (var t = 0u; t < 4u; t++) {
                    let i = i0 + c + t;
                    if (i < p.tokens && attends(i, j)) {
                        w[t] = exp(scores[row_at + c + t] * p.scale - tile_lse[c + t]);
                        ds[t] = w[t] * (scores2[row_at + c + t] - tile_d[c + t]) * p.scale;
                    }
                }
                put_probs(row_at + c, w);
                put_probs2(row_at + c, ds);
            }
        }
        workgroupBarrier();
        let pa = r.slot * SS;
        let pt = coopLoadT<mat_a>(&probs[pa], S);
        let dst = coopLoadT<mat_a>(&probs2[pa], S);
        dv0 = coopMultiplyAdd(pt, coopLoadT<mat_b>(&shared_b[col0], D), dv0);
        dv1 = coopMultiplyAdd(pt, coopLoadT<mat_b>(&shared_b[col0 + S], D), dv1);
        dv2 = coopMultiplyAdd(pt, coopLoadT<mat_b>(&shared_b[col0 + 2u * S], D), dv2);
        dv3 = coopMultiplyAdd(pt, coopLoadT<mat_b>(&shared_b[col0 + 3u * S], D), dv3);
        dk0 = coopMultiplyAdd(dst, coopLoadT<mat_b>(&shared_a[col0], D), dk0);
        dk1 = coopMultiplyAdd(dst, coopLoadT<mat_b>(&shared_a[col0 + S], D), dk1);
        dk2 = coopMultiplyAdd(dst, coopLoadT<mat_b>(&shared_a[col0 + 2u * S], D), dk2);
        dk3 = coopMultiplyAdd(dst, coopLoadT<mat_b>(&shared_a[col0 + 3u * S], D), dk3);
    }
    output_tile(dk0, r, lane, lanes, 1u, col0);
    output_tile(dk1, r, lane, lanes, 1u, col0 + S);
    output_tile(dk2, r, lane, lanes, 1u, col0 + 2u * S);
    output_tile(dk3, r, lane, lanes, 1u, col0 + 3u * S);
    output_tile(dv0, r, lane, lanes, 2u, col0);
    output_tile(dv1, r, lane, lanes, 2u, col0 + S);
    output_tile(dv2, r, lane, lanes, 2u, col0 + 2u * S);
    output_tile(dv3, r, lane, lanes, 2u, col0 + 3u * S);
}
