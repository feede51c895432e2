//! Data parallelism's few collective operations (issue 14): every rank runs the same step on
//! its shard of the global batch; gradients, centres, losses and stop decisions are combined
//! through a [`Collective`]. [`SingleProcess`] is the identity (one rank); [`mpi::MpiWorld`]
//! (cargo feature `mpi`) is MPI's world communicator, launched by `mpirun`.
//!
//! No GPU and nothing above `error` here: the training loop passes host buffers in.

pub mod launch;
#[cfg(feature = "mpi")]
pub mod mpi;

use crate::error::Result;
use launch::Launch;

/// The operations data-parallel training needs, on host memory. Every rank must call the
/// same operations in the same order with the same lengths (MPI's rule for collectives).
pub trait Collective {
    /// This process's rank, 0-based; rank 0 writes files and evaluates.
    fn rank(&self) -> usize;
    /// How many ranks train together.
    fn ranks(&self) -> usize;
    /// Element-wise sum over every rank, in place.
    fn sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// Element-wise sum over every rank, in place.
    fn sum_f64(&self, values: &mut [f64]) -> Result<()>;
    /// Rank 0's values everywhere (lengths must already agree).
    fn broadcast_f32(&self, values: &mut [f32]) -> Result<()>;
    /// Rank 0's bytes everywhere (the length travels first).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()>;
    /// Ends every rank at once (MPI_Abort), for an error on one rank that the others cannot
    /// see: without it they would wait in their next collective forever.
    fn abort(&self, code: i32) -> !;

    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// True on every rank when `flag` is true on any.
    fn any(&self, flag: bool) -> Result<bool> {
        let mut v = [if flag { 1.0 } else { 0.0 }];
        self.sum_f64(&mut v)?;
        Ok(v[0] > 0.0)
    }

    /// The mean over ranks of each value, in place.
    fn mean_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum_f64(values)?;
        let n = self.ranks() as f64;
        values.iter_mut().for_each(|v| *v /= n);
        Ok(())
    }

    /// The mean over ranks of each value, in place.
    fn mean_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum_f32(values)?;
        let inv = 1.0 / self.ranks() as f32;
        values.iter_mut().for_each(|v| *v *= inv);
        Ok(())
    }

    /// `value` of every rank, indexed by rank, on every rank.
    fn gather_u64(&self, value: u64) -> Result<Vec<u64>> {
        let mut v = vec![0.0f64; self.ranks()];
        v[self.rank()] = value as f64;
        self.sum_f64(&mut v)?;
        Ok(v.into_iter().map(|x| x as u64).collect())
    }
}

/// The collective for a process started as `launch` says: MPI's world when launched as several
/// ranks (feature `mpi`), else the single process. Several ranks without the feature is an
/// error that says how to build.
pub fn open_collective(launch: Launch) -> Result<Box<dyn Collective>> {
    if launch.ranks <= 1 {
        return Ok(Box::new(SingleProcess));
    }
    open_ranks(launch)
}

#[cfg(feature = "mpi")]
fn open_ranks(launch: Launch) -> Result<Box<dyn Collective>> {
    Ok(Box::new(self::mpi::MpiWorld::init(launch)?))
}

#[cfg(not(feature = "mpi"))]
fn open_ranks(launch: Launch) -> Result<Box<dyn Collective>> {
    Err(launch::without_mpi(&launch))
}

/// One process: every operation is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn ranks(&self) -> usize {
        1
    }
    fn sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn sum_f64(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn broadcast_bytes(&self, _: &mut Vec<u8>) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_combines_to_its_own_values() {
        let one = SingleProcess;
        let mut v = [1.5f32, -2.0];
        one.sum_f32(&mut v).unwrap();
        one.mean_f32(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0]);
        assert!(one.any(true).unwrap() && !one.any(false).unwrap());
        assert_eq!(one.gather_u64(7).unwrap(), vec![7]);
        assert!(one.is_root());
    }
}
