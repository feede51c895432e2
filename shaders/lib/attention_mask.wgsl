// The ADCLR attention mask as index ranges; needs a `p` with n_base, mode, bidirectional.

fn attends(i: u32, j: u32) -> bool {
    if (p.bidirectional != 0u) { return true; }
    if (i < p.n_base) { return j < p.n_base; }
    switch p.mode {
        case 0u: { return j < p.n_base || j == i; }
        case 1u: { return j < p.n_base; }
        case 2u: { return j >= 1u && j < p.n_base; }
        default: { return true; }
    }
}
