//! MPI's world communicator as a [`Collective`] (cargo feature `mpi`: rsmpi over the system's
//! MPI, e.g. Debian's Open MPI). Only the main thread calls MPI (data workers do not), so the
//! library is initialised for funneled threading.

use super::launch::Launch;
use super::Collective;
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;

/// Values per all-reduce call: bounds the temporary copy (64 MiB of f32) and keeps counts
/// far below MPI's `int` limit.
const BLOCK: usize = 1 << 24;

pub struct MpiWorld {
    world: SimpleCommunicator,
    /// Finalises MPI when dropped (after `world`).
    _universe: Universe,
}

impl MpiWorld {
    /// Starts MPI (the command line has set Open MPI's yield switch before this:
    /// `cli::environment::let_waiting_ranks_yield`).
    pub fn init(launch: Launch) -> Result<Self> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
            Error::Data(format!(
                "rank {} of {}: MPI was already initialised in this process",
                launch.rank, launch.ranks
            ))
        })?;
        let world = universe.world();
        if world.size() as usize != launch.ranks {
            return Err(Error::Data(format!(
                "{} announced {} ranks but MPI's world has {}: launch with the mpirun of the MPI this binary \
                 was built against",
                launch.launcher,
                launch.ranks,
                world.size()
            )));
        }
        Ok(Self { world, _universe: universe })
    }

    fn all_reduce_sum<T: Equivalence + Copy + Default>(&self, values: &mut [T]) {
        let mut sent = vec![T::default(); values.len().min(BLOCK)];
        for block in values.chunks_mut(BLOCK) {
            let sent = &mut sent[..block.len()];
            sent.copy_from_slice(block);
            self.world.all_reduce_into(&sent[..], block, SystemOperation::sum());
        }
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn ranks(&self) -> usize {
        self.world.size() as usize
    }
    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.all_reduce_sum(values);
        Ok(())
    }
    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.all_reduce_sum(values);
        Ok(())
    }
    fn broadcast_f32(&self, values: &mut [f32]) -> Result<()> {
        let root = self.world.process_at_rank(0);
        for block in values.chunks_mut(BLOCK) {
            root.broadcast_into(block);
        }
        Ok(())
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        for block in bytes.chunks_mut(BLOCK) {
            root.broadcast_into(block);
        }
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
