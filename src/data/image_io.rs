//! Decoding any image the `image` crate reads into 8-bit RGB (grayscale, RGBA and 16-bit
//! images are converted), with errors that name the file.

use image::imageops::FilterType;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// File extensions treated as images when walking a folder.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "webp", "gif", "tif", "tiff", "ppm", "pgm", "tga"];

pub fn is_image_path(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decodes `path` to RGB8.
pub fn load_rgb(path: &Path) -> Result<RgbImage, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| format!("{}: cannot open: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .decode()
        .map_err(|e| format!("{}: not a readable image: {e}", path.display()))?;
    Ok(img.to_rgb8())
}

/// Resizes the shorter side to `size` (bicubic) and crops the centre `size` x `size`.
pub fn resize_center_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let scale = size as f64 / w.min(h);
    let (nw, nh) = (((w * scale).round() as u32).max(size as u32), ((h * scale).round() as u32).max(size as u32));
    let resized = image::imageops::resize(img, nw, nh, FilterType::CatmullRom);
    let (x, y) = ((nw - size as u32) / 2, (nh - size as u32) / 2);
    image::imageops::crop_imm(&resized, x, y, size as u32, size as u32).to_image()
}

/// Every image file under `dir` (recursively), sorted by path. Each folder is read once, by
/// its resolved path: symbolic links back to a folder already read (loops, or a second way to
/// the same images) are skipped rather than followed forever or counted twice.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a folder (give a folder of images)", dir.display()));
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let resolved = std::fs::canonicalize(&d).map_err(|e| format!("{}: cannot resolve: {e}", d.display()))?;
        if !seen.insert(resolved) {
            continue;
        }
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: cannot list: {e}", d.display()))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image_path(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("{}: no image files found (looked for {})", dir.display(), IMAGE_EXTENSIONS.join(", ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("adclr-image-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_read_once() {
        let d = temp("loops");
        std::fs::create_dir_all(d.join("shirts")).unwrap();
        let px = RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
        px.save(d.join("a.png")).unwrap();
        px.save(d.join("shirts/b.png")).unwrap();
        // Two links back to the root and one to a sibling: was a hang (two) or every image
        // counted dozens of times (one).
        std::os::unix::fs::symlink(&d, d.join("shirts/up")).unwrap();
        std::os::unix::fs::symlink(&d, d.join("self")).unwrap();
        std::os::unix::fs::symlink(d.join("shirts"), d.join("again")).unwrap();
        let files = list_images(&d).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn every_listed_extension_decodes() {
        let d = temp("formats");
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 40) as u8, (y * 80) as u8, 7]));
        for ext in IMAGE_EXTENSIONS {
            let p = d.join(format!("x.{ext}"));
            let dynamic = image::DynamicImage::ImageRgb8(img.clone());
            let saved = match *ext {
                "pgm" => dynamic.to_luma8().save_with_format(&p, image::ImageFormat::Pnm),
                "webp" => continue, // the image crate encodes WebP losslessly only with a feature we do not need
                _ => dynamic.save(&p),
            };
            saved.unwrap_or_else(|e| panic!("{ext}: {e}"));
            let back = load_rgb(&p).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!(back.dimensions(), (5, 3), "{ext}");
        }
        std::fs::remove_dir_all(&d).ok();
    }
}
