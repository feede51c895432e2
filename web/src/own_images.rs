//! `train_on_images(steps, settings, images, count, labels, onEvent)`: the page's run on the
//! visitor's own images, decoded in the page (web/own-images.js) and handed over as pixels.
//! Nothing leaves the machine: the bytes go from the page's memory to the GPU.

use crate::page::{js_error, run, settings_of};
use adclr_wgpu::data::in_memory::{LabelledImages, PixelImages};
use adclr_wgpu::train::session_data::{SessionImages, OWN_IMAGES};
use wasm_bindgen::prelude::*;

/// Trains on `count` images in `images` (a Uint8Array: each image `image_size(settings)` pixels
/// square, RGB, one after the other) with `labels` (a JSON array of one class name per image,
/// or `null`: unlabelled), as `train` does on the embedded subset. With labels, a fifth of each
/// class is held out: k-NN's queries and the attention maps; the result adds the 2-D map of
/// the teacher's features. Rejects with the error's text (too few images for the batch,
/// sizes that do not match, one class only).
#[wasm_bindgen]
pub async fn train_on_images(
    steps: u32,
    settings: JsValue,
    images: js_sys::Uint8Array,
    count: usize,
    labels: &str,
    on_event: js_sys::Function,
) -> Result<JsValue, JsValue> {
    let mut settings = settings_of(steps, settings)?;
    settings.train.data = OWN_IMAGES.into();
    let side = settings.image_size().map_err(js_error)?;
    let names: Option<Vec<String>> =
        serde_json::from_str(labels).map_err(|e| js_error(format!("labels: a JSON array of names or null: {e}")))?;
    let pixels = PixelImages::new(images.to_vec(), count, side).map_err(js_error)?;
    let set = LabelledImages::new(pixels, names).map_err(js_error)?;
    run(settings, SessionImages::Own(set), &on_event).await
}
