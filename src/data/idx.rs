//! IDX files (MNIST, Fashion-MNIST), gzipped or not: u8 images [n, rows, cols] and labels.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// Grayscale images of one size and optional labels.
#[derive(Clone, Debug)]
pub struct IdxImages {
    pub rows: usize,
    pub cols: usize,
    /// [n, rows, cols]
    pub pixels: Vec<u8>,
    pub labels: Option<Vec<u8>>,
}

impl IdxImages {
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.rows * self.cols).max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

fn maybe_gunzip(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&bytes[..]).read_to_end(&mut out).map_err(|e| format!("corrupt gzip stream: {e}"))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses IDX image bytes (magic 0x803) and, if given, label bytes (magic 0x801).
pub fn parse(images: Vec<u8>, labels: Option<Vec<u8>>) -> Result<IdxImages, String> {
    let img = maybe_gunzip(images)?;
    if img.len() < 16 || be_u32(&img, 0) != 0x0803 {
        return Err("not an IDX image file (expected magic 0x00000803)".into());
    }
    let (n, rows, cols) = (be_u32(&img, 4) as usize, be_u32(&img, 8) as usize, be_u32(&img, 12) as usize);
    // The product can exceed usize for a forged header: checked, never wrapped.
    let bytes = n.checked_mul(rows).and_then(|v| v.checked_mul(cols)).and_then(|v| v.checked_add(16));
    let end = match bytes {
        Some(end) if rows > 0 && cols > 0 && end <= img.len() => end,
        _ => return Err(format!("IDX image file is truncated: header says {n} images of {rows}x{cols}")),
    };
    let pixels = img[16..end].to_vec();
    let labels = match labels {
        Some(l) => {
            let l = maybe_gunzip(l)?;
            if l.len() < 8 || be_u32(&l, 0) != 0x0801 {
                return Err("not an IDX label file (expected magic 0x00000801)".into());
            }
            let m = be_u32(&l, 4) as usize;
            if m != n || l.len() < 8 + m {
                return Err(format!("IDX labels ({m}) do not match the images ({n})"));
            }
            Some(l[8..8 + m].to_vec())
        }
        None => None,
    };
    Ok(IdxImages { rows, cols, pixels, labels })
}

/// Reads `images` and the label file beside it (`...-images-idx3-ubyte[.gz]` ->
/// `...-labels-idx1-ubyte[.gz]`) when present.
pub fn load(images: &Path) -> Result<IdxImages, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: cannot read: {e}", p.display()));
    let bytes = read(images)?;
    let name = images.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let label_path = images.with_file_name(name.replace("images-idx3", "labels-idx1"));
    let labels = if label_path != images && label_path.exists() { Some(read(&label_path)?) } else { None };
    parse(bytes, labels).map_err(|e| format!("{}: {e}", images.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(n: u32, r: u32, c: u32) -> Vec<u8> {
        let mut v = vec![0, 0, 8, 3];
        for x in [n, r, c] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend((0..n * r * c).map(|i| i as u8));
        v
    }

    #[test]
    fn parses_plain_and_rejects_truncated() {
        let d = parse(idx_bytes(2, 3, 2), Some(vec![0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).unwrap();
        assert_eq!((d.len(), d.rows, d.cols), (2, 3, 2));
        assert_eq!(d.image(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(d.labels, Some(vec![7, 9]));
        let mut cut = idx_bytes(2, 3, 2);
        cut.truncate(20);
        assert!(parse(cut, None).unwrap_err().contains("truncated"));
        assert!(parse(b"hello world, not idx".to_vec(), None).unwrap_err().contains("magic"));
        // A forged header whose size product overflows is refused, not a panic.
        let mut forged = vec![0, 0, 8, 3];
        for x in [16u32, (1 << 30) - 1, (1 << 30) + 1, u32::MAX] {
            forged.extend_from_slice(&x.to_be_bytes());
        }
        forged.truncate(16);
        assert!(parse(forged.clone(), None).unwrap_err().contains("truncated"));
        forged[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        forged[8..16].copy_from_slice(&[0xFF; 8]);
        assert!(parse(forged, None).unwrap_err().contains("truncated"));
    }
}
