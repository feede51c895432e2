//! One training per run directory: an operating-system lock (std's `File::try_lock`: flock on
//! Unix, LockFileEx on Windows) on `train.lock`, held while the training runs. The system
//! releases it when the process ends in any way (kill -9, power loss), so no lock is ever
//! stale. The file holds the owner's process id, for the message a second training gets.

use crate::error::{Error, Result};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub const LOCK: &str = "train.lock";

/// Held for as long as the training runs; dropping it removes `train.lock` and closes the
/// file, which releases the lock (a killed process leaves the file, unlocked, to be taken).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: std::path::PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so no other process can have locked this file meanwhile; one
        // that opened it just before is refused by `acquire`'s check that the path is its file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open `file` (not removed by a finishing owner since it was
/// opened). Where the platform gives no file identity, assumed so.
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl RunLock {
    pub fn acquire(run_dir: &Path) -> Result<Self> {
        // A lock taken on a file its owner removed at the same moment is taken again, once.
        match Self::try_acquire(run_dir)? {
            Some(lock) => Ok(lock),
            None => Self::try_acquire(run_dir)?.ok_or_else(|| {
                Error::Data(format!("{}: the run lock changed hands while it was taken: try again", run_dir.display()))
            }),
        }
    }

    fn try_acquire(run_dir: &Path) -> Result<Option<Self>> {
        let path = run_dir.join(LOCK);
        let err = |what: &str, e: std::io::Error| Error::Data(format!("{}: {what}: {e}", path.display()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| err("cannot open the run lock", e))?;
        match file.try_lock() {
            Ok(()) if !still_named(&file, &path) => Ok(None),
            Ok(()) => {
                file.set_len(0).map_err(|e| err("cannot write the run lock", e))?;
                write!(file, "{}", std::process::id()).map_err(|e| err("cannot write the run lock", e))?;
                Ok(Some(Self { _file: file, path }))
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
                let owner = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("process {pid}"),
                    Err(_) => "another process".to_string(),
                };
                Err(Error::Data(format!(
                    "{} is being trained by {owner} (it holds {LOCK}): wait for it to end, or choose another --out",
                    run_dir.display()
                )))
            }
            Err(TryLockError::Error(e)) => {
                Err(err("cannot lock the run directory (does this file system support locks?)", e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RunLock, LOCK};

    #[test]
    fn a_held_lock_refuses_a_second_owner_and_is_free_again_when_dropped() {
        let dir = std::env::temp_dir().join(format!("adclr-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A lock file left by a process that died: no OS lock on it, so it is simply taken.
        std::fs::write(dir.join(LOCK), "4294967295").unwrap();
        let held = RunLock::acquire(&dir).unwrap();
        let msg = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(msg.contains(&format!("being trained by process {}", std::process::id())), "{msg}");
        drop(held);
        assert!(!dir.join(LOCK).exists(), "a finished owner leaves no lock file");
        let again = RunLock::acquire(&dir).unwrap();
        assert!(dir.join(LOCK).exists());
        drop(again);
        std::fs::remove_dir_all(&dir).ok();
    }
}
