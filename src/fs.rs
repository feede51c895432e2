//! Files written so that no reader ever sees half of one: a temporary name in the same
//! folder, fsync, rename; and the clean-up of temporaries a killed process left.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

fn out_err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Output(format!("{}: {what}", path.display()))
}

/// The temporary name `write_atomic` gives `path` while process `pid` writes it.
fn temporary_name(path: &Path, pid: u32) -> std::path::PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    dir.join(format!(".{name}.tmp-{pid}"))
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| out_err(path, format!("cannot create the folder: {e}")))?;
    let tmp = temporary_name(path, std::process::id());
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(out_err(path, format!("cannot write: {e}")));
    }
    Ok(())
}

/// Removes the temporary files `write_atomic` left in `dir` when a process was killed while
/// writing (`.NAME.tmp-PID` of a process that no longer runs); returns how many. Call it
/// while holding the directory's run lock.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((_, pid)) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-")) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let alive = pid == own || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
