//! Measuring speed: kernel and step benchmarks, the matmul tuning report (`bench`, `tune`).

pub mod bench;
