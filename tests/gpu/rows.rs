//! Row gather and scatter (`shaders/rows.wgsl`, `ops::rows`).

use crate::common::*;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::rows;
use adclr_wgpu::reference::rows as r;

#[test]
fn gather_and_scatter_rows() {
    let e = engine();
    let mut rng = Rng::new(31);
    let (src_rows, dim) = (11usize, 7usize);
    let src = f32_exact(&rng.vec(src_rows * dim, 1.0));
    let index = [0usize, 10, 4, 5];
    let gsrc = upload("src", &src);
    let gidx = GpuTensor::from_u32(&e.ctx, "index", &[4], &index.map(|i| i as u32)).unwrap();
    let gdst = zeros("dst", 6 * dim);
    e.run(&[&rows::gather(e, &gsrc, &gidx, &gdst, dim, 2).unwrap()]).unwrap();
    let got = download(&gdst);
    assert!(got[..2 * dim].iter().all(|&v| v == 0.0));
    assert_close("gather", &got[2 * dim..], &r::gather(&src, &index, dim), 0.0, 0.0);
    let gback = zeros("dsrc", src_rows * dim);
    e.run(&[&rows::scatter(e, &gdst, &gidx, &gback, dim, 2).unwrap()]).unwrap();
    assert_close("scatter", &download(&gback), &r::scatter(&got[2 * dim..], &index, src_rows, dim), 0.0, 0.0);
}
