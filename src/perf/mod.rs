//! Measuring speed: kernel and step benchmarks, the matmul tuning report (`bench`, `tune`), and
//! the check against the CPU reference a kernel passes on this adapter before it is timed
//! (`verify`).

pub mod bench;
pub mod verify;
