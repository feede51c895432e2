//! DINO's augmentations (ADCLR.md): random resized crop with bicubic resampling, flip, colour
//! jitter, grayscale, gaussian blur, solarize; and the ADCLR query crops. Every random choice
//! comes from the caller's generator, so a seed fixes the result.

use crate::rng::Rng;
use image::imageops::{self, FilterType};
use image::RgbImage;

/// torchvision's RandomResizedCrop: a crop of area fraction in `scale` and aspect ratio in
/// `ratio` (log-uniform), resized to `size` x `size` with bicubic resampling. Images of any
/// size (even 1 x 1) work.
pub fn random_resized_crop(img: &RgbImage, size: u32, scale: (f64, f64), ratio: (f64, f64), rng: &mut Rng) -> RgbImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let area = w * h;
    let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
    let mut crop = None;
    for _ in 0..10 {
        let target = area * rng.range(scale.0, scale.1);
        let aspect = rng.range(lr0, lr1).exp();
        let cw = (target * aspect).sqrt().round();
        let ch = (target / aspect).sqrt().round();
        if cw >= 1.0 && ch >= 1.0 && cw <= w && ch <= h {
            let x = (rng.uniform() * (w - cw + 1.0)).floor().min(w - cw);
            let y = (rng.uniform() * (h - ch + 1.0)).floor().min(h - ch);
            crop = Some((x as u32, y as u32, cw as u32, ch as u32));
            break;
        }
    }
    // Fallback: the centre crop with the ratio clamped into range.
    let (x, y, cw, ch) = crop.unwrap_or_else(|| {
        let r = w / h;
        let (cw, ch) = if r < ratio.0 {
            (w, (w / ratio.0).round())
        } else if r > ratio.1 {
            ((h * ratio.1).round(), h)
        } else {
            (w, h)
        };
        let (cw, ch) = (cw.clamp(1.0, w), ch.clamp(1.0, h));
        (((w - cw) / 2.0) as u32, ((h - ch) / 2.0) as u32, cw as u32, ch as u32)
    });
    let view = imageops::crop_imm(img, x, y, cw.max(1), ch.max(1)).to_image();
    imageops::resize(&view, size, size, FilterType::CatmullRom)
}

fn gray(p: [f32; 3]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

fn rgb_to_hsv(p: [f32; 3]) -> [f32; 3] {
    let (mx, mn) = (p[0].max(p[1]).max(p[2]), p[0].min(p[1]).min(p[2]));
    let d = mx - mn;
    let h = if d == 0.0 {
        0.0
    } else if mx == p[0] {
        ((p[1] - p[2]) / d).rem_euclid(6.0) / 6.0
    } else if mx == p[1] {
        ((p[2] - p[0]) / d + 2.0) / 6.0
    } else {
        ((p[0] - p[1]) / d + 4.0) / 6.0
    };
    [h, if mx == 0.0 { 0.0 } else { d / mx }, mx]
}

fn hsv_to_rgb(p: [f32; 3]) -> [f32; 3] {
    let (h, s, v) = (p[0].rem_euclid(1.0) * 6.0, p[1], p[2]);
    let i = h.floor();
    let f = h - i;
    let (a, b, c) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i as u32 % 6 {
        0 => [v, c, a],
        1 => [b, v, a],
        2 => [a, v, c],
        3 => [a, b, v],
        4 => [c, a, v],
        _ => [v, a, b],
    }
}

/// Colour jitter (brightness, contrast, saturation, hue) in a random order, as torchvision.
pub fn color_jitter(img: &mut RgbImage, brightness: f64, contrast: f64, saturation: f64, hue: f64, rng: &mut Rng) {
    let b = rng.range(1.0 - brightness, 1.0 + brightness) as f32;
    let c = rng.range(1.0 - contrast, 1.0 + contrast) as f32;
    let s = rng.range(1.0 - saturation, 1.0 + saturation) as f32;
    let h = rng.range(-hue, hue) as f32;
    let mut order = [0usize, 1, 2, 3];
    for i in (1..4).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut px: Vec<[f32; 3]> =
        img.pixels().map(|p| [p[0] as f32 / 255.0, p[1] as f32 / 255.0, p[2] as f32 / 255.0]).collect();
    for op in order {
        match op {
            0 => px.iter_mut().for_each(|p| p.iter_mut().for_each(|v| *v = (*v * b).clamp(0.0, 1.0))),
            1 => {
                let mean = px.iter().map(|p| gray(*p)).sum::<f32>() / px.len().max(1) as f32;
                px.iter_mut().for_each(|p| p.iter_mut().for_each(|v| *v = ((*v - mean) * c + mean).clamp(0.0, 1.0)));
            }
            2 => px.iter_mut().for_each(|p| {
                let g = gray(*p);
                p.iter_mut().for_each(|v| *v = ((*v - g) * s + g).clamp(0.0, 1.0));
            }),
            _ => px.iter_mut().for_each(|p| {
                let mut hsv = rgb_to_hsv(*p);
                hsv[0] += h;
                *p = hsv_to_rgb(hsv);
            }),
        }
    }
    for (dst, p) in img.pixels_mut().zip(px) {
        *dst = image::Rgb([(p[0] * 255.0).round() as u8, (p[1] * 255.0).round() as u8, (p[2] * 255.0).round() as u8]);
    }
}

pub fn grayscale(img: &mut RgbImage) {
    for p in img.pixels_mut() {
        let g = (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round().clamp(0.0, 255.0) as u8;
        *p = image::Rgb([g, g, g]);
    }
}

/// PIL's solarize at threshold 128: invert every value >= 128.
pub fn solarize(img: &mut RgbImage) {
    for p in img.pixels_mut() {
        for v in p.0.iter_mut() {
            if *v >= 128 {
                *v = 255 - *v;
            }
        }
    }
}

/// DINO's blur sigmas (0.1-2.0 px) are for 224-px views; a view of `side` px gets them scaled
/// by side / 224 so that a 32-px view is blurred as much, relative to its size, as DINO's.
pub fn blur_sigma_range(side: u32) -> (f64, f64) {
    let scale = side as f64 / 224.0;
    (0.1 * scale, 2.0 * scale)
}

/// Photometric part shared by views and query crops: jitter (p 0.8), grayscale (p 0.2),
/// gaussian blur (p `blur_p`, sigma from `blur_sigma_range` of the image's side), solarize
/// (p `solarize_p`).
pub fn photometric(img: &mut RgbImage, blur_p: f64, solarize_p: f64, rng: &mut Rng) {
    if rng.uniform() < 0.8 {
        color_jitter(img, 0.4, 0.4, 0.2, 0.1, rng);
    }
    if rng.uniform() < 0.2 {
        grayscale(img);
    }
    if rng.uniform() < blur_p {
        let (lo, hi) = blur_sigma_range(img.width().max(img.height()));
        let sigma = rng.range(lo, hi) as f32;
        *img = imageops::blur(img, sigma);
    }
    if rng.uniform() < solarize_p {
        solarize(img);
    }
}

/// Crop settings of one kind of view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewAug {
    pub size: u32,
    pub scale: (f64, f64),
    pub flip: bool,
    pub blur_p: f64,
    pub solarize_p: f64,
}

pub const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

/// A view: crop, flip (p 0.5 when allowed), photometric augmentation.
pub fn view(img: &RgbImage, aug: &ViewAug, rng: &mut Rng) -> RgbImage {
    let mut v = random_resized_crop(img, aug.size, aug.scale, RATIO, rng);
    if aug.flip && rng.uniform() < 0.5 {
        v = imageops::flip_horizontal(&v);
    }
    photometric(&mut v, aug.blur_p, aug.solarize_p, rng);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_image() -> RgbImage {
        RgbImage::from_fn(28, 21, |x, y| image::Rgb([(x * 9) as u8, (y * 12) as u8, ((x + y) * 5) as u8]))
    }

    #[test]
    fn views_have_the_requested_size_and_are_deterministic_per_seed() {
        let img = test_image();
        let aug = ViewAug { size: 32, scale: (0.4, 1.0), flip: true, blur_p: 1.0, solarize_p: 0.2 };
        let a = view(&img, &aug, &mut Rng::new(5));
        let b = view(&img, &aug, &mut Rng::new(5));
        let c = view(&img, &aug, &mut Rng::new(6));
        assert_eq!((a.width(), a.height()), (32, 32));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn tiny_images_and_extreme_crops_never_panic() {
        let one = RgbImage::from_pixel(1, 1, image::Rgb([10, 200, 30]));
        for seed in 0..20 {
            let v = random_resized_crop(&one, 4, (0.05, 0.15), RATIO, &mut Rng::new(seed));
            assert_eq!((v.width(), v.height()), (4, 4));
            assert_eq!(v.get_pixel(2, 2), &image::Rgb([10, 200, 30]));
        }
        let wide = RgbImage::from_pixel(300, 2, image::Rgb([1, 2, 3]));
        let v = random_resized_crop(&wide, 16, (0.4, 1.0), RATIO, &mut Rng::new(1));
        assert_eq!(v.width(), 16);
    }

    #[test]
    fn blur_sigmas_scale_with_the_view_side() {
        assert_eq!(blur_sigma_range(224), (0.1, 2.0));
        let (lo, hi) = blur_sigma_range(32);
        assert!((lo - 0.1 / 7.0).abs() < 1e-12 && (hi - 2.0 / 7.0).abs() < 1e-12, "{lo} {hi}");
        // The strongest blur of an 8-px query crop (sigma 0.07 px) leaves its pixels as they were,
        // where DINO's absolute 2 px would average the crop into a smear.
        let crop = RgbImage::from_fn(8, 8, |x, y| image::Rgb([if (x + y) % 2 == 0 { 40 } else { 220 }; 3]));
        let max_change = |b: &RgbImage| {
            crop.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap_or(0)
        };
        assert!(max_change(&imageops::blur(&crop, blur_sigma_range(8).1 as f32)) <= 1);
        assert!(max_change(&imageops::blur(&crop, 2.0)) >= 20);
    }

    #[test]
    fn photometric_ops_do_what_they_say() {
        let mut g = test_image();
        grayscale(&mut g);
        assert!(g.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
        let mut s = RgbImage::from_pixel(2, 2, image::Rgb([10, 128, 250]));
        solarize(&mut s);
        assert_eq!(s.get_pixel(0, 0), &image::Rgb([10, 127, 5]));
        for p in [[0.2f32, 0.5, 0.9], [0.9, 0.1, 0.1], [0.3, 0.3, 0.3]] {
            let back = hsv_to_rgb(rgb_to_hsv(p));
            assert!(p.iter().zip(back).all(|(a, b)| (a - b).abs() < 1e-5), "{p:?} -> {back:?}");
        }
    }
}
