//! Files of fixed-size records (CIFAR and STL-10 binaries), read one record at a time:
//! each read opens the file, seeks and reads, so nothing is ever loaded whole and a reader
//! can be shared across threads. Also the folder and class-name helpers those share.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One file of `count` records of `record_size` bytes, with no header.
#[derive(Clone, Debug)]
pub struct RecordFile {
    pub path: PathBuf,
    pub record_size: usize,
    pub count: usize,
}

impl RecordFile {
    /// Checks that `path` exists and holds a whole, non-zero number of `record_size`-byte
    /// records. `holds` says what the folder should hold, and `layout` what one record is,
    /// for the messages.
    pub fn open(path: &Path, record_size: usize, holds: &str, layout: &str) -> Result<Self, String> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{}: not found; {holds}", path.display()));
            }
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let size = meta.len();
        let rs = record_size as u64;
        if size == 0 || size % rs != 0 {
            return Err(format!(
                "{}: {size} bytes is not a whole number of {record_size}-byte records ({layout}): truncated, or not this kind of file",
                path.display()
            ));
        }
        let count = usize::try_from(size / rs).map_err(|_| format!("{}: too large ({size} bytes)", path.display()))?;
        Ok(Self { path: path.to_path_buf(), record_size, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// "{file}#{record}", for messages and image names.
    pub fn name(&self, i: usize) -> String {
        format!("{}#{i}", self.path.display())
    }

    /// Record `i` into `buf` (`record_size` bytes): open, seek, read.
    pub fn read(&self, i: usize, buf: &mut [u8]) -> Result<(), String> {
        if i >= self.count || buf.len() != self.record_size {
            return Err(format!("{}: no record {i} ({} records)", self.path.display(), self.count));
        }
        let err = |e: std::io::Error| format!("{}: cannot read: {e}", self.name(i));
        let mut f = File::open(&self.path).map_err(err)?;
        f.seek(SeekFrom::Start(i as u64 * self.record_size as u64)).map_err(err)?;
        f.read_exact(buf).map_err(err)
    }

    /// Reads every record in order, passing each one (and its index) to `each`; for the
    /// labels a record file carries. Streams the file, never holds more than one record.
    pub fn scan(&self, mut each: impl FnMut(usize, &[u8]) -> Result<(), String>) -> Result<(), String> {
        let err = |e: std::io::Error| format!("{}: cannot read: {e}", self.path.display());
        let mut r = BufReader::with_capacity(1 << 20, File::open(&self.path).map_err(err)?);
        let mut buf = vec![0u8; self.record_size];
        for i in 0..self.count {
            r.read_exact(&mut buf).map_err(|e| format!("{}: cannot read: {e}", self.name(i)))?;
            each(i, &buf)?;
        }
        Ok(())
    }
}

/// `dir`, or its sub-folder `sub` (the name the archive unpacks to) when `dir` lacks
/// `marker` and holds `sub`: `cifar10:~/data` finds `~/data/cifar-10-batches-bin/`.
pub fn descend(dir: &Path, sub: &str, marker: &str) -> PathBuf {
    let inner = dir.join(sub);
    if !dir.join(marker).exists() && inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}

/// Checks that `dir` is a folder; the message says what it should hold.
pub fn require_folder(dir: &Path, holds: &str) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!("{}: no such folder; {holds}", dir.display()))
    }
}

/// Class names, one a line (blank lines skipped), from `path` when it exists; `None` when
/// it does not. A file with other than `expected` names is an error.
pub fn class_names(path: &Path, expected: usize) -> Result<Option<Vec<String>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.len() != expected {
        return Err(format!("{}: {} class names, expected {expected} (one a line)", path.display(), names.len()));
    }
    Ok(Some(names))
}

/// Test helper: a fresh, empty folder under the system temporary folder, removed on drop.
#[cfg(test)]
pub(crate) struct TempDir(pub PathBuf);

#[cfg(test)]
impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("adclr-records-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_on_demand_and_rejects_partial_files() {
        let t = TempDir::new("basic");
        let p = t.write("r.bin", &(0..12u8).collect::<Vec<_>>());
        let f = RecordFile::open(&p, 4, "holds r.bin", "4 bytes").unwrap();
        assert_eq!(f.len(), 3);
        let mut buf = [0u8; 4];
        f.read(2, &mut buf).unwrap();
        assert_eq!(buf, [8, 9, 10, 11]);
        f.read(0, &mut buf).unwrap();
        assert_eq!(buf, [0, 1, 2, 3]);
        assert!(f.read(3, &mut buf).unwrap_err().contains("no record 3"));
        let mut firsts = Vec::new();
        f.scan(|i, r| {
            firsts.push((i, r[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!(firsts, vec![(0, 0), (1, 4), (2, 8)]);

        let e = RecordFile::open(&p, 5, "holds r.bin", "5 bytes").unwrap_err();
        assert!(e.contains("r.bin") && e.contains("12 bytes") && e.contains("5-byte records"), "{e}");
        let e = RecordFile::open(&t.0.join("gone.bin"), 4, "the folder holds r.bin", "4 bytes").unwrap_err();
        assert!(e.contains("gone.bin: not found; the folder holds r.bin"), "{e}");
        let empty = t.write("empty.bin", &[]);
        assert!(RecordFile::open(&empty, 4, "", "").unwrap_err().contains("0 bytes"));
    }
}
