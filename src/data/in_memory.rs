//! Images handed over in memory (a web page's decoded files): `count` square images of one
//! side, RGB or grey, with an optional class name per image. Checked on the way in, each error
//! naming what is wrong, and split deterministically into a training part and a held-out part
//! per class (about one in five) for evaluation.

use image::RgbImage;
use std::sync::Arc;

/// Square 8-bit images of one side stored back to back, shared between the views of one set
/// (the training part and the held-out part are index lists over the same bytes).
#[derive(Clone, Debug)]
pub struct PixelImages {
    pub side: usize,
    /// 3 (RGB) or 1 (grey, replicated to RGB when read).
    pub channels: usize,
    bytes: Arc<[u8]>,
    /// The images of this view, as positions in `bytes`.
    indices: Vec<usize>,
}

impl PixelImages {
    /// `count` images of `side` x `side` pixels in `bytes`: RGB (3 bytes a pixel) or grey (1).
    pub fn new(bytes: Vec<u8>, count: usize, side: usize) -> Result<Self, String> {
        if count == 0 {
            return Err("no images were given: choose a folder that holds images (PNG, JPEG, WebP, ...)".into());
        }
        let pixels = count.checked_mul(side).and_then(|v| v.checked_mul(side)).unwrap_or(usize::MAX);
        let channels = match bytes.len() {
            n if side > 0 && n == pixels.saturating_mul(3) => 3,
            n if side > 0 && n == pixels => 1,
            n => {
                return Err(format!(
                    "images: {n} bytes for {count} images of {side} x {side} pixels, which take {} bytes as RGB \
                     or {pixels} as grey: decode every image at the settings' image size ({side} px)",
                    pixels.saturating_mul(3)
                ))
            }
        };
        Ok(Self { side, channels, bytes: bytes.into(), indices: (0..count).collect() })
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Image `i` of this view as RGB8.
    pub fn image(&self, i: usize) -> RgbImage {
        let n = self.side * self.side * self.channels;
        let px = &self.bytes[self.indices[i] * n..(self.indices[i] + 1) * n];
        let side = self.side as u32;
        RgbImage::from_fn(side, side, |x, y| {
            let at = (y as usize * self.side + x as usize) * self.channels;
            match self.channels {
                3 => image::Rgb([px[at], px[at + 1], px[at + 2]]),
                _ => image::Rgb([px[at]; 3]),
            }
        })
    }

    /// The images at `indices` of this view (the bytes are shared, not copied).
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self { indices: indices.iter().map(|&i| self.indices[i]).collect(), ..self.clone() }
    }
}

/// Images with, optionally, a class per image (`labels` index `classes`, sorted by name).
#[derive(Clone, Debug)]
pub struct LabelledImages {
    pub pixels: PixelImages,
    pub labels: Option<Vec<usize>>,
    pub classes: Vec<String>,
}

impl LabelledImages {
    /// `pixels` with one class name per image (`names`), or unlabelled (`None`).
    pub fn new(pixels: PixelImages, names: Option<Vec<String>>) -> Result<Self, String> {
        let Some(names) = names else {
            return Ok(Self { pixels, labels: None, classes: Vec::new() });
        };
        if names.len() != pixels.len() {
            return Err(format!(
                "labels: {} class names for {} images: give one per image (its sub-folder), or none",
                names.len(),
                pixels.len()
            ));
        }
        let mut classes = names.clone();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(format!(
                "labels: every image is in class `{}`: k-NN needs two classes or more; give no labels to train \
                 on the images unlabelled",
                classes.first().map_or("", String::as_str)
            ));
        }
        let labels = names.iter().map(|n| classes.binary_search(n).unwrap_or(0)).collect();
        Ok(Self { pixels, labels: Some(labels), classes })
    }

    /// The training part and the held-out part: of each class's images (in the order given),
    /// `max(1, n / 5)` evenly spaced ones are held out, none of a class of one image.
    /// Unlabelled images are all training images. An error when labels leave nothing held out.
    pub fn split(&self) -> Result<(Self, Option<Self>), String> {
        let Some(labels) = &self.labels else {
            return Ok((self.clone(), None));
        };
        let mut held = vec![false; labels.len()];
        for class in 0..self.classes.len() {
            let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
            let n = members.len();
            let out = if n >= 2 { (n / 5).max(1) } else { 0 };
            for j in 0..out {
                held[members[j * n / out + n / out - 1]] = true;
            }
        }
        let part = |keep: bool| {
            let idx: Vec<usize> = (0..labels.len()).filter(|&i| held[i] == keep).collect();
            let labels = Some(idx.iter().map(|&i| labels[i]).collect());
            Self { pixels: self.pixels.subset(&idx), labels, classes: self.classes.clone() }
        };
        let held_out = part(true);
        if held_out.pixels.is_empty() {
            return Err(format!(
                "labels: no class has two images, so none can be held out for k-NN ({} images in {} classes): \
                 add images or give no labels",
                self.pixels.len(),
                self.classes.len()
            ));
        }
        Ok((part(false), Some(held_out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(count: usize, side: usize) -> PixelImages {
        PixelImages::new((0..count * side * side * 3).map(|i| (i % 251) as u8).collect(), count, side).unwrap()
    }

    #[test]
    fn rgb_and_grey_images_read_back_as_rgb() {
        let rgb = pixels(2, 2);
        assert_eq!(rgb.channels, 3);
        // Image 1 starts at byte 12: pixel (1, 0) is bytes 15..18.
        assert_eq!(rgb.image(1).get_pixel(1, 0).0, [15, 16, 17]);
        let grey = PixelImages::new(vec![0, 10, 20, 30, 40, 50, 60, 70], 2, 2).unwrap();
        assert_eq!((grey.channels, grey.image(1).get_pixel(1, 1).0), (1, [70; 3]));
        assert_eq!(grey.subset(&[1]).image(0).get_pixel(0, 0).0, [40; 3]);
    }

    #[test]
    fn bad_sets_are_named() {
        let e = PixelImages::new(vec![0; 10], 2, 4).unwrap_err();
        assert!(e.contains("10 bytes for 2 images of 4 x 4") && e.contains("96 bytes as RGB or 32 as grey"), "{e}");
        assert!(PixelImages::new(Vec::new(), 0, 4).unwrap_err().starts_with("no images were given"));
        let e = LabelledImages::new(pixels(3, 2), Some(vec!["a".into(); 2])).unwrap_err();
        assert!(e.contains("2 class names for 3 images"), "{e}");
        let e = LabelledImages::new(pixels(3, 2), Some(vec!["a".into(); 3])).unwrap_err();
        assert!(e.contains("every image is in class `a`"), "{e}");
        let one_each = LabelledImages::new(pixels(2, 2), Some(vec!["a".into(), "b".into()])).unwrap();
        assert!(one_each.split().unwrap_err().contains("no class has two images"));
    }

    #[test]
    fn the_split_holds_out_a_fifth_of_each_class_evenly() {
        // Class b (labels 1) at even positions, 10 images; class a at odd ones, 10; c: one image.
        let mut names: Vec<String> = (0..20).map(|i| if i % 2 == 0 { "b" } else { "a" }.to_string()).collect();
        names.push("c".into());
        let set = LabelledImages::new(pixels(21, 2), Some(names)).unwrap();
        assert_eq!(set.classes, ["a", "b", "c"]);
        let (train, held) = set.split().unwrap();
        let held = held.unwrap();
        // Of each class of ten, its 5th and 10th image; the single image of c trains.
        assert_eq!(held.pixels.indices, [8, 9, 18, 19]);
        assert_eq!(held.labels, Some(vec![1, 0, 1, 0]));
        assert_eq!(train.pixels.len(), 17);
        assert_eq!(train.labels.as_ref().unwrap().last(), Some(&2));
        assert_eq!(held.pixels.image(1).get_pixel(0, 0).0, pixels(21, 2).image(9).get_pixel(0, 0).0);
        let unlabelled = LabelledImages::new(pixels(4, 2), None).unwrap();
        let (all, none) = unlabelled.split().unwrap();
        assert_eq!((all.pixels.len(), none.is_none()), (4, true));
    }
}
