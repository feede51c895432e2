// Register-blocked batched matmul without workgroup memory, for devices where barriers are
// expensive and caches do the staging (CPU Vulkan drivers such as lavapipe). Each invocation
// computes an 8x4 block of C from vec4 loads; rows and columns past the edge are clamped on
// load and skipped on store, so full tiles pay nothing for the edges. Two layouts:
//   matmul_nt: A [batch, M, K] and B [batch or 1, N, K], both contiguous along K (K % 4 == 0):
//              C[m, n] = dot(A[m, :], B[n, :])  (a linear layer's forward, x W^T)
//   matmul_nn: B [batch or 1, K, N] contiguous along N (N % 4 == 0), A any strides:
//              C[m, n] = sum_k A(m, k) B[k, n]  (the gradients dX = dY W and dW = dY^T X)

// #import matmul_common

fn store_rows8(batch_out: u32, row0: u32, col0: u32, acc: array<vec4<f32>, 8>) {
    for (var i = 0u; i < 8u; i++) { store_row4(batch_out, row0 + i, col0, acc[i]); }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nt(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let row0 = gid.y * 8u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let k4 = p.k / 4u;
    var acc: array<vec4<f32>, 8>;
    let n_summed = select(1u, p.batch, sum_batch);
    for (var bb = 0u; bb < n_summed; bb++) {
        let batch = select(wg.z, bb, sum_batch);
        // Row offsets in vec4 units, clamped to the last valid row.
        var ra: array<u32, 8>;
        var rb: array<u32, 4>;
        for (var i = 0u; i < 8u; i++) {
            ra[i] = (batch * p.a_bs) / 4u + min(row0 + i, p.m - 1u) * k4;
        }
        for (var j = 0u; j < 4u; j++) {
            rb[j] = (batch * p.b_bs) / 4u + min(col0 + j, p.n - 1u) * k4;
        }
        for (var kk = 0u; kk < k4; kk++) {
            let b0 = b[rb[0] + kk];
            let b1 = b[rb[1] + kk];
            let b2 = b[rb[2] + kk];
            let b3 = b[rb[3] + kk];
            for (var i = 0u; i < 8u; i++) {
                let av = a4[ra[i] + kk];
                acc[i] += vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
            }
        }
    }
    store_rows8(select(wg.z, 0u, sum_batch), row0, col0, acc);
}

@compute @workgroup_size(8, 8, 1)
fn matmul_nn(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let row0 = gid.y * 8u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let n4 = p.n / 4u;
    let col4 = col0 / 4u;
    var acc: array<vec4<f32>, 8>;
    let n_summed = select(1u, p.batch, sum_batch);
    for (var bb = 0u; bb < n_summed; bb++) {
        let batch = select(wg.z, bb, sum_batch);
        var ra: array<u32, 8>;
        for (var i = 0u; i < 8u; i++) {
            ra[i] = batch * p.a_bs + min(row0 + i, p.m - 1u) * p.a_rs;
        }
        let b_base = (batch * p.b_bs) / 4u + col4;
        for (var k = 0u; k < p.k; k++) {
            let bv = b[b_base + k * n4];
            let ak = k * p.a_cs;
            for (var i = 0u; i < 8u; i++) {
                acc[i] += a[ra[i] + ak] * bv;
            }
        }
    }
    store_rows8(select(wg.z, 0u, sum_batch), row0, col0, acc);
}

// matmul_nn with A row-major (a_cs == 1, K % 4 == 0): four k at a time from vec4 loads of
// A's rows and four vec4 rows of B; each invocation computes 8 rows x 4 columns, so every
// B load feeds 8 rows: 128 FMAs per 12 loads.

@compute @workgroup_size(8, 8, 1)
fn matmul_nn_k4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let row0 = gid.y * 8u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    var acc: array<vec4<f32>, 8>;
    let n_summed = select(1u, p.batch, sum_batch);
    for (var bb = 0u; bb < n_summed; bb++) {
        let batch = select(wg.z, bb, sum_batch);
        var ra: array<u32, 8>;
        for (var i = 0u; i < 8u; i++) {
            ra[i] = (batch * p.a_bs + min(row0 + i, p.m - 1u) * p.a_rs) / 4u;
        }
        let b_base = (batch * p.b_bs) / 4u + col0 / 4u;
        for (var kk = 0u; kk < k4; kk++) {
            let bo = b_base + kk * 4u * n4;
            let b0 = b[bo];
            let b1 = b[bo + n4];
            let b2 = b[bo + 2u * n4];
            let b3 = b[bo + 3u * n4];
            for (var i = 0u; i < 8u; i++) {
                let av = a4[ra[i] + kk];
                acc[i] += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
            }
        }
    }
    store_rows8(select(wg.z, 0u, sum_batch), row0, col0, acc);
}

// matmul_nn with A stored transposed (a_rs == 1, M % 4 == 0: a weight gradient dY^T X):
// two vec4 loads give A's eight rows at k (the second clamped at the edge), one vec4 of B.
@compute @workgroup_size(8, 8, 1)
fn matmul_tn(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let row0 = gid.y * 8u;
    let col0 = gid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let sum_batch = (p.flags & FLAG_SUM_BATCH) != 0u;
    let n4 = p.n / 4u;
    let a_c4 = p.a_cs / 4u;
    let row1 = min(row0 + 4u, p.m - 4u);
    var acc: array<vec4<f32>, 8>;
    let n_summed = select(1u, p.batch, sum_batch);
    for (var bb = 0u; bb < n_summed; bb++) {
        let batch = select(wg.z, bb, sum_batch);
        let a_base0 = (batch * p.a_bs + row0) / 4u;
        let a_base1 = (batch * p.a_bs + row1) / 4u;
        let b_base = (batch * p.b_bs) / 4u + col0 / 4u;
        for (var k = 0u; k < p.k; k++) {
            let a0 = a4[a_base0 + k * a_c4];
            let a1 = a4[a_base1 + k * a_c4];
            let bv = b[b_base + k * n4];
            acc[0] += a0.x * bv;
            acc[1] += a0.y * bv;
            acc[2] += a0.z * bv;
            acc[3] += a0.w * bv;
            acc[4] += a1.x * bv;
            acc[5] += a1.y * bv;
            acc[6] += a1.z * bv;
            acc[7] += a1.w * bv;
        }
    }
    store_rows8(select(wg.z, 0u, sum_batch), row0, col0, acc);
}
