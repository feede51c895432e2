//! Every environment variable the program (and its tests) read: name, type, default and what
//! it does, in one table; `value` is the only place in `src/` that reads the environment, so a
//! variable cannot be read without being listed here, and only the command line calls it
//! (`cli::environment`, which parses the values into the types the library takes). docs/commands.md's table is checked
//! against this one (tests/knobs.rs).

/// One environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knob {
    pub name: &'static str,
    /// The values it takes.
    pub kind: &'static str,
    /// What applies when it is unset.
    pub default: &'static str,
    pub help: &'static str,
    /// Read by tests, benches and CI scripts only, not by the program.
    pub test_only: bool,
}

const fn knob(name: &'static str, kind: &'static str, default: &'static str, help: &'static str) -> Knob {
    Knob { name, kind, default, help, test_only: false }
}

const fn test_knob(name: &'static str, kind: &'static str, help: &'static str) -> Knob {
    Knob { name, kind, default: "unset", help, test_only: true }
}

pub const LIMITS: Knob = knob(
    "ADCLR_LIMITS",
    "adapter|minimal",
    "the adapter's own",
    "as `--limits`, for tests and scripts: `minimal` runs under WebGPU's default limits",
);
pub const MATMUL: Knob = knob(
    "ADCLR_MATMUL",
    "tiles|blocked|subgroup|strided|coop",
    "tuned, else the rule",
    "forces one matmul kernel (`coop`: cooperative matrices, f16-mixed only)",
);
pub const PRECISION: Knob = knob(
    "ADCLR_PRECISION",
    "f32|f16-mixed",
    "f32",
    "as `train --precision`, for every command: matmul operands rounded to f16 with f32 accumulation",
);
pub const ROWS: Knob = knob(
    "ADCLR_ROWS",
    "workgroup|invocation",
    "tuned, else the rule",
    "forces the row kernels: a workgroup or an invocation per row",
);
pub const ATTENTION: Knob = knob(
    "ADCLR_ATTENTION",
    "quad|tiled|subgroup|per-row|coop",
    "tuned, else the rule",
    "forces one attention kernel (shapes it does not take run per-row; `coop`: f16-mixed only)",
);
pub const TUNING_FILE: Knob = knob(
    "ADCLR_TUNING_FILE",
    "a path",
    "$XDG_CACHE_HOME (else ~/.cache)/adclr-wgpu/kernel-tuning.json",
    "where `tune` keeps its choice and every command reads it",
);
pub const XDG_CACHE_HOME: Knob = knob("XDG_CACHE_HOME", "a path", "~/.cache", "the cache folder of the tuning file");
pub const WGPU_BACKEND: Knob = knob(
    "WGPU_BACKEND",
    "vulkan|metal|dx12|gl",
    "every backend, the best device type",
    "the backend when `--backend` is absent",
);
pub const HOME: Knob = knob("HOME", "a path", "none", "the home folder (~/.cache)");
pub const MPI_YIELD: Knob = knob(
    "OMPI_MCA_mpi_yield_when_idle",
    "0|1",
    "set to 1 by the binary",
    "Open MPI's idle ranks yield their core (a CPU driver beside them runs 50-100x slower otherwise)",
);
pub const OMPI_SIZE: Knob =
    knob("OMPI_COMM_WORLD_SIZE", "a count", "unset: one process", "Open MPI's ranks (set by mpirun)");
pub const OMPI_RANK: Knob = knob("OMPI_COMM_WORLD_RANK", "a rank", "0", "this process's rank (set by mpirun)");
pub const OMPI_LOCAL_RANK: Knob =
    knob("OMPI_COMM_WORLD_LOCAL_RANK", "a rank", "the rank", "this process's rank on its machine (set by mpirun)");
pub const PMI_SIZE: Knob = knob("PMI_SIZE", "a count", "unset: one process", "MPICH's ranks (set by mpiexec)");
pub const PMI_RANK: Knob = knob("PMI_RANK", "a rank", "0", "this process's rank (set by mpiexec)");
pub const MPI_LOCAL_RANK: Knob =
    knob("MPI_LOCALRANKID", "a rank", "the rank", "this process's rank on its machine (set by mpiexec)");

/// Every variable read, the program's and the tests'.
pub const KNOBS: &[Knob] = &[
    LIMITS,
    MATMUL,
    PRECISION,
    ROWS,
    ATTENTION,
    TUNING_FILE,
    WGPU_BACKEND,
    XDG_CACHE_HOME,
    HOME,
    MPI_YIELD,
    OMPI_SIZE,
    OMPI_RANK,
    OMPI_LOCAL_RANK,
    PMI_SIZE,
    PMI_RANK,
    MPI_LOCAL_RANK,
    test_knob(
        "ADCLR_EXPECT_COOP",
        "set or unset",
        "tests: a missing cooperative-matrix device fails instead of skipping (.ci/run's Mesa 26 stage)",
    ),
    test_knob(
        "ADCLR_EXPECT_TENSORBOARD",
        "set or unset",
        "tests: a missing `tensorboard` Python package fails the event-file check instead of skipping (.ci/run)",
    ),
    test_knob(
        "ADCLR_BENCH_MAX",
        "a side",
        "benches/kernels.rs: the largest square matmul timed (default 2048; 1024 skips the larger)",
    ),
    test_knob(
        "ADCLR_BENCH_BATCH",
        "a batch",
        "benches/kernels.rs: the ViT-S batch of the qkv and attention cases (default 8)",
    ),
    test_knob(
        "ADCLR_WEB_REFERENCE",
        "a path",
        "the browser test: the native record it compares with (scripts/web-test.sh sets it)",
    ),
];

/// The value of `knob` (None where unset or not Unicode): the one read of the environment.
pub fn value(knob: &Knob) -> Option<String> {
    debug_assert!(KNOBS.contains(knob), "{} is not in KNOBS", knob.name);
    std::env::var(knob.name).ok()
}

/// The value of `knob` as the OS gives it (paths need not be Unicode).
pub fn value_os(knob: &Knob) -> Option<std::ffi::OsString> {
    debug_assert!(KNOBS.contains(knob), "{} is not in KNOBS", knob.name);
    std::env::var_os(knob.name)
}

/// The value of `knob` where set and not empty.
pub fn non_empty(knob: &Knob) -> Option<String> {
    value(knob).filter(|v| !v.is_empty())
}

/// The knob named `name`, if the table lists it.
pub fn named(name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.name == name)
}
