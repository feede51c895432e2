// Shared by the subgroup attention kernels (CPU drivers with 8-lane subgroups; head_dim % 4
// == 0). The eight lanes of a subgroup own eight rows of one (image, head); a row every lane
// needs (a key, a value, a query) is loaded once, each lane reading the vec4 chunks
// lane, lane + 8, lane + 16, lane + 24 of it (its "share"), and read back whole through
// subgroupShuffle. Loops run to fixed trip counts so chunk indices are constants. Rows are
// read from textures holding qkv (and out, dout: lib/operand_texture.wgsl), `qkv_at(i)` being
// vec4 number i of qkv; each kernel file binds them.

const LANES: u32 = 8u;
const SLOTS: u32 = 4u;                    // chunks per lane: 8 lanes x 4 x vec4 = MAX_HEAD_DIM
const ROW4: u32 = MAX_HEAD_DIM / 4u;      // vec4 chunks of the longest head row

// (image * heads + head, first row) of this subgroup's eight rows; the first component is
// batch * heads or more past the end.
fn row_group(wg: vec3<u32>, nwg: vec3<u32>, sid: u32) -> vec2<u32> {
    let g = (wg.y * nwg.x + wg.x) * 8u + sid;
    let per_bh = (p.tokens + LANES - 1u) / LANES;
    return vec2<u32>(g / per_bh, (g % per_bh) * LANES);
}

// This lane's share of the head row starting at vec4 offset `base` of qkv.
fn load_share(base: u32, lane: u32) -> array<vec4<f32>, SLOTS> {
    var r: array<vec4<f32>, SLOTS>;
    let hd4 = p.head_dim / 4u;
    for (var t = 0u; t < SLOTS; t++) {
        let c = t * LANES + lane;
        if (c < hd4) { r[t] = qkv_at(base + c); }
    }
    return r;
}

// x . (the row whose shares the lanes hold), x a whole row held by this lane.
fn dot_shared(x: ptr<function, array<vec4<f32>, ROW4>>, share: array<vec4<f32>, SLOTS>) -> f32 {
    let hd4 = p.head_dim / 4u;
    var s = 0.0;
    for (var t = 0u; t < SLOTS; t++) {
        if (t * LANES < hd4) {
            for (var l = 0u; l < LANES; l++) {
                let v = subgroupShuffle(share[t], l);
                let c = t * LANES + l;
                if (c < hd4) { s += dot((*x)[c], v); }
            }
        }
    }
    return s;
}

// x = x * keep + w * (the shared row).
fn axpy_shared(x: ptr<function, array<vec4<f32>, ROW4>>, keep: f32, w: f32, share: array<vec4<f32>, SLOTS>) {
    let hd4 = p.head_dim / 4u;
    for (var t = 0u; t < SLOTS; t++) {
        if (t * LANES < hd4) {
            for (var l = 0u; l < LANES; l++) {
                let v = subgroupShuffle(share[t], l);
                let c = t * LANES + l;
                (*x)[c] = (*x)[c] * keep + w * v;
            }
        }
    }
}
