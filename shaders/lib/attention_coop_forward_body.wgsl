// The cooperative-matrix attention forward (lib/attention_coop.wgsl): per query row two
// passes over the keys, the first for the row's maximum and sum (online, in f32), the second
// for O = P V with P = exp(s - lse) rounded to f16 (no rescaling of the accumulators, which a
// cooperative matrix cannot do row by row). The including file binds out (f32) and lse.

fn write_output(b: u32, row: u32, part: u32, h: u32, col: u32, value: f32) {
    out[((b * p.tokens + row) * p.heads + h) * D + col] = value;
}

fn coop_forward(wg: vec3<u32>, li: u32, sid: u32, nsg: u32, lane: u32, lanes: u32) {
    let r = coop_rows(wg, sid, nsg);
    stage_own_a(r, 0u, lane, lanes);
    let i = min(r.r0 + lane, p.tokens - 1u);  // lane < S: this lane's query row (clamped)
    let row_at = r.slot * SS + lane * S;      // lane < S: its row of the scratch
    var m = -1.0e30;
    var l = 0.0;
    for (var j0 = 0u; j0 < p.tokens; j0 += S) {
        stage_keys_values(r.b, r.h, j0, li);
        score_tile(r.slot);
        workgroupBarrier();
        if (lane < S) {
            for (var c = 0u; c < S; c++) {
                let j = j0 + c;
                if (j < p.tokens && attends(i, j)) {
                    let s = scores[row_at + c] * p.scale;
                    let m_new = max(m, s);
                    l = l * exp(m - m_new) + exp(s - m_new);
                    m = m_new;
                }
            }
        }
    }
    var row_lse = 0.0;
    if (l > 0.0) { row_lse = m + log(l); }
    let col0 = r.chunk * COLS;
    var acc0 = mat_c();
    var acc1 = mat_c();
    var acc2 = mat_c();
    var acc3 = mat_c();
    for (var j0 = 0u; j0 < p.tokens; j0 += S) {
        stage_keys_values(r.b, r.h, j0, li);
        score_tile(r.slot);
        workgroupBarrier();
        if (lane < S) {
            for (var c = 0u; c < S; c += 4u) {
                var w = vec4<f32>(0.0);
                for (var t = 0u; t < 4u; t++) {
                    let j = j0 + c + t;
                    if (j < p.tokens && attends(i, j)) {
                        w[t] = exp(scores[row_at + c + t] * p.scale - row_lse);
                    }
                }
                put_probs(row_at + c, w);
            }
        }
        workgroupBarrier();
        let pa = r.slot * SS;
        let pm = coopLoadT<mat_a>(&probs[pa], S);
        acc0 = coopMultiplyAdd(pm, coopLoadT<mat_b>(&shared_b[col0], D), acc0);
        acc1 = coopMultiplyAdd(pm, coopLoadT<mat_b>(&shared_b[col0 + S], D), acc1);
        acc2 = coopMultiplyAdd(pm, coopLoadT<mat_b>(&shared_b[col0 + 2u * S], D), acc2);
        acc3 = coopMultiplyAdd(pm, coopLoadT<mat_b>(&shared_b[col0 + 3u * S], D), acc3);
    }
    output_tile(acc0, r, lane, lanes, 0u, col0);
    output_tile(acc1, r, lane, lanes, 0u, col0 + S);
    output_tile(acc2, r, lane, lanes, 0u, col0 + 2u * S);
    output_tile(acc3, r, lane, lanes, 0u, col0 + 3u * S);
    if (r.live && r.chunk == 0u && lane < S && r.r0 + lane < p.tokens) {
        lse[(r.b * p.heads + r.h) * p.tokens + r.r0 + lane] = row_lse;
    }
}
