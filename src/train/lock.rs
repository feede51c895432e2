//! One training per run directory: `train.lock` holds the process id of the training that owns
//! the directory, is created exclusively, and is removed when that training ends. A lock left
//! by a process that no longer exists (kill -9, power loss) is taken over where the system
//! says which processes exist (Linux's /proc); elsewhere the message says to delete it.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LOCK: &str = "train.lock";

/// Held for as long as the training runs; the file goes when this is dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Whether process `pid` exists, where the system can say (None elsewhere).
fn process_exists(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self").exists().then(|| proc.join(pid.to_string()).exists())
}

impl RunLock {
    pub fn acquire(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(LOCK);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok());
                    match owner.map(|pid| (pid, process_exists(pid))) {
                        // A stale lock (or one whose writer died before writing its id): take it over.
                        Some((_, Some(false))) | None => {
                            let _ = std::fs::remove_file(&path);
                        }
                        Some((pid, alive)) => {
                            let how = match alive {
                                Some(_) => "it is still running".to_string(),
                                None => format!("if it is not running any more, delete {}", path.display()),
                            };
                            return Err(Error::Data(format!(
                                "{} is being trained by process {pid} ({how}): wait for it, or choose another --out",
                                run_dir.display()
                            )));
                        }
                    }
                }
                Err(e) => return Err(Error::Data(format!("{}: cannot create the run lock: {e}", path.display()))),
            }
        }
        Err(Error::Data(format!("{}: another training keeps taking the run lock", path.display())))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
