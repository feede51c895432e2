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

/// Every image file under `dir` (recursively), sorted by path.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a folder (give a folder of images)", dir.display()));
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
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
