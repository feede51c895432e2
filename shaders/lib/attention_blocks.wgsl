// Shared by the GPU attention kernels for head_dim == HEAD_DIM (attention_tiles, attention_quads):
// a workgroup owns ROWS rows (queries, or keys in the key/value backward) of one (image, head).

const HEAD_DIM: u32 = 64u;   // the head size these kernels are compiled for (ViT-S, ViT-B)
const ROWS: u32 = 64u;       // rows per workgroup

// (image * heads + head, first row) of this workgroup; the first is past batch * heads for
// workgroups beyond the end.
fn row_block(wg: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    let g = wg.y * nwg.x + wg.x;
    let per_bh = (p.tokens + ROWS - 1u) / ROWS;
    return vec2<u32>(g / per_bh, (g % per_bh) * ROWS);
}

// Keys a block of rows can see: only CLS + patches when all of them are CLS / patch rows.
fn key_end(row0: u32) -> u32 {
    return select(p.tokens, p.n_base, p.bidirectional == 0u && row0 + ROWS <= p.n_base);
}
