//! How this process was started: alone, or as one of several ranks by `mpirun` (Open MPI,
//! MPICH), read from the variables those launchers set (`open_collective` opens the
//! collective that goes with it). A binary built without the `mpi` feature refuses to be one
//! of several ranks (each would train alone and write the same run directory).

use crate::error::Error;

/// What the launcher told this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub ranks: usize,
    /// The rank among those on this machine (picks the adapter).
    pub local_rank: usize,
    /// The launcher's name, for messages.
    pub launcher: &'static str,
}

/// (launcher, size, rank, local rank) variables, in the order they are tried. Only what an MPI
/// launcher sets for its processes: Slurm's SLURM_NTASKS is also set for a lone command in a
/// batch script, so it would turn one process into a refused "rank".
const LAUNCHERS: [(&str, &str, &str, &str); 2] = [
    ("Open MPI's mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("MPICH's mpiexec", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"),
];

impl Launch {
    /// From the environment `var` gives (the command line's read of the knobs,
    /// `cli::environment::launch`); None when no launcher started this process.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let num = |name: &str| var(name).and_then(|v| v.trim().parse::<usize>().ok());
        LAUNCHERS.iter().find_map(|&(launcher, size, rank, local)| {
            let ranks = num(size)?;
            let rank = num(rank).unwrap_or(0);
            Some(Self { rank, ranks, local_rank: num(local).unwrap_or(rank), launcher })
        })
    }

    pub const ALONE: Self = Self { rank: 0, ranks: 1, local_rank: 0, launcher: "none" };
}

/// The refusal of a binary built without MPI.
pub fn without_mpi(launch: &Launch) -> Error {
    Error::Data(format!(
        "{} started this process as rank {} of {}, but this adclr-wgpu was built without MPI, so every rank \
         would train alone. Build it with MPI (Debian: apt-get install -y libopenmpi-dev openmpi-bin libclang-dev; \
         then cargo build --release --features mpi) and launch that binary, or run without {}",
        launch.launcher, launch.rank, launch.ranks, launch.launcher
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_launcher_variable_is_a_knob() {
        for (_, size, rank, local) in super::LAUNCHERS {
            for name in [size, rank, local] {
                assert!(crate::knobs::named(name).is_some(), "{name} is not in knobs::KNOBS");
            }
        }
    }

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn launchers_are_read_from_their_variables() {
        assert_eq!(Launch::from_env(env(&[])), None);
        let ompi = [("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")];
        let l = Launch::from_env(env(&ompi)).unwrap();
        assert_eq!((l.rank, l.ranks, l.local_rank), (3, 4, 1));
        let mpich = [("PMI_SIZE", "2"), ("PMI_RANK", "1")];
        let l = Launch::from_env(env(&mpich)).unwrap();
        assert_eq!((l.rank, l.ranks, l.local_rank, l.launcher), (1, 2, 1, "MPICH's mpiexec"));
        // A batch script's environment alone is not a launch.
        assert_eq!(Launch::from_env(env(&[("SLURM_NTASKS", "4"), ("SLURM_PROCID", "0")])), None);
    }

    #[test]
    fn several_ranks_without_mpi_say_how_to_build() {
        let launch = Launch { rank: 1, ranks: 2, local_rank: 1, launcher: "Open MPI's mpirun" };
        let msg = without_mpi(&launch).to_string();
        assert!(msg.contains("rank 1 of 2") && msg.contains("--features mpi"), "{msg}");
    }
}
