//! Column sums (`shaders/reduce.wgsl`, `ops::reduce`, `reference::reduce`), in one pass and,
//! on the GPU policies, in two (checked to be taken).

use crate::common::*;
use adclr_wgpu::ops::reduce;
use adclr_wgpu::reference;

#[test]
fn column_sum_matches_reference() {
    for e in engines() {
        let mut rng = Rng::new(43);
        for (rows, cols) in [(1usize, 1usize), (5, 300), (1000, 7), (3000, 12)] {
            if e.scratch.is_some() && rows >= 1000 {
                assert!(reduce::row_chunks(e, rows, cols).0 > 1, "{rows}x{cols} in one pass on {:?}", e.choice);
            }
            let src = f32_exact(&rng.vec(rows * cols, 1.0));
            let start = f32_exact(&rng.vec(cols, 1.0));
            let (gsrc, gdst) = (upload_on(e, "src", &src), upload_on(e, "dst", &start));
            let want = reference::reduce::column_sum(&src, rows, cols);
            for accumulate in [true, false] {
                let ds = reduce::column_sum(e, &gsrc, &gdst, rows, cols, accumulate).unwrap();
                e.run(&ds.iter().collect::<Vec<_>>()).unwrap();
                let want: Vec<f64> =
                    if accumulate { want.iter().zip(&start).map(|(a, b)| a + b).collect() } else { want.clone() };
                let what = format!("column sum {rows}x{cols} accumulate {accumulate} on {:?}", e.choice);
                assert_close(&what, &download_on(e, &gdst), &want, 1e-4, 1e-5);
            }
        }
    }
}
