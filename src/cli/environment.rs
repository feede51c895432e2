//! The environment, read once: each variable of the table of knobs (`knobs`) that the program
//! obeys, parsed here into the typed values the library takes (`NativeDefaults`, `Launch`).
//! Nothing below the command line reads the environment; a bad value is an error that names
//! the variable and what it may be.

use crate::dist::launch::Launch;
use crate::error::{Error, Result};
use crate::gpu::context::{Backend, DeviceLimits};
use crate::gpu::{NativeDefaults, Overrides};
use crate::knobs::{self, Knob};
use std::path::PathBuf;

/// The kernel overrides, the tuning cache and the adapter fallbacks of this process.
pub fn native_defaults() -> Result<NativeDefaults> {
    let (backend, limits) = adapter_fallbacks()?;
    Ok(NativeDefaults { overrides: overrides()?, tuning_file: tuning_file(), backend, limits })
}

/// `ADCLR_MATMUL`, `ADCLR_PRECISION`, `ADCLR_ROWS` and `ADCLR_ATTENTION`.
pub fn overrides() -> Result<Overrides> {
    Overrides::from_values(|name| knobs::named(name).and_then(knobs::value))
}

/// `WGPU_BACKEND` and `ADCLR_LIMITS`: what a command without `--backend` or `--limits` uses.
pub fn adapter_fallbacks() -> Result<(Option<Backend>, Option<DeviceLimits>)> {
    Ok((parsed(&knobs::WGPU_BACKEND, backend)?, parsed(&knobs::LIMITS, DeviceLimits::parse)?))
}

type Parse<T> = fn(&str) -> std::result::Result<T, String>;

/// `knob`'s value parsed by `parse` (None where unset or empty).
fn parsed<T>(knob: &Knob, parse: Parse<T>) -> Result<Option<T>> {
    parse_value(knob, knobs::non_empty(knob), parse)
}

/// `value` of `knob` parsed by `parse`; an error names the variable, the value and the choices.
fn parse_value<T>(knob: &Knob, value: Option<String>, parse: Parse<T>) -> Result<Option<T>> {
    value.map(|v| parse(&v).map_err(|e| Error::Data(format!("{}: {e} (or unset it)", knob.name)))).transpose()
}

fn backend(name: &str) -> std::result::Result<Backend, String> {
    Backend::parse(name).map_err(|e| e.to_string())
}

/// `ADCLR_TUNING_FILE`, else `$XDG_CACHE_HOME/adclr-wgpu/kernel-tuning.json`, else
/// `$HOME/.cache/adclr-wgpu/kernel-tuning.json` (None: no home, no cache).
pub fn tuning_file() -> Option<PathBuf> {
    if let Some(p) = knobs::value_os(&knobs::TUNING_FILE) {
        return Some(PathBuf::from(p));
    }
    let base = knobs::value_os(&knobs::XDG_CACHE_HOME)
        .map(PathBuf::from)
        .or_else(|| knobs::value_os(&knobs::HOME).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("adclr-wgpu").join("kernel-tuning.json"))
}

/// How this process was started: alone, or as a rank of `mpirun`/`mpiexec`.
pub fn launch() -> Launch {
    Launch::from_env(|name| knobs::named(name).and_then(knobs::value)).unwrap_or(Launch::ALONE)
}

/// Before MPI starts: a rank waiting in a collective otherwise spins on its core, and a CPU
/// driver (lavapipe) of the other ranks on the same cores runs 50-100x slower (measured: the
/// first 2-rank step 19 s instead of 0.1 s). Open MPI reads this switch at MPI_Init; the
/// user's own setting wins.
pub fn let_waiting_ranks_yield() {
    if knobs::value_os(&knobs::MPI_YIELD).is_none() {
        std::env::set_var(knobs::MPI_YIELD.name, "1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_to_their_types_and_a_bad_one_names_its_variable() {
        assert_eq!(parse_value(&knobs::LIMITS, None, DeviceLimits::parse).unwrap(), None);
        let minimal = parse_value(&knobs::LIMITS, Some("Minimal".into()), DeviceLimits::parse).unwrap();
        assert_eq!(minimal, Some(DeviceLimits::Minimal));
        let gl = parse_value(&knobs::WGPU_BACKEND, Some("gles".into()), backend).unwrap();
        assert_eq!(gl, Some(Backend::Gl));
        let err = parse_value(&knobs::LIMITS, Some("large".into()), DeviceLimits::parse).unwrap_err().to_string();
        assert!(err.contains("ADCLR_LIMITS: `large`: use adapter or minimal"), "{err}");
        let err = parse_value(&knobs::WGPU_BACKEND, Some("cuda".into()), backend).unwrap_err().to_string();
        assert!(err.contains("WGPU_BACKEND: unknown backend `cuda`: use vulkan"), "{err}");
    }
}
