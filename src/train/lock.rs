//! One training per run directory: an operating-system lock (std's `File::try_lock`: flock on
//! Unix, LockFileEx on Windows) on `train.lock`, held while the training runs. The system
//! releases it when the process ends in any way (kill -9, power loss), so no lock is ever
//! stale. The file holds the owner's process id, for the message a second training gets.

use crate::error::{Error, Result};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub const LOCK: &str = "train.lock";

/// Held for as long as the training runs; closing the file (drop) releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    pub fn acquire(run_dir: &Path) -> Result<Self> {
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
            Ok(()) => {
                file.set_len(0).map_err(|e| err("cannot write the run lock", e))?;
                write!(file, "{}", std::process::id()).map_err(|e| err("cannot write the run lock", e))?;
                Ok(Self { _file: file })
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
        RunLock::acquire(&dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
