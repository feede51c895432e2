//! What web/index.html calls (wasm32 only): `train(steps, settings, onEvent)`, the named
//! settings the page offers and the image size they take; `own_images` trains on the visitor's
//! images. Every value crosses as JSON text or a typed array, parsed on the other side.

use adclr_wgpu::train::session::{KnnFigures, Settings, StepLog, Trainer};
use adclr_wgpu::train::session_data::{SessionImages, SetSizes};
use adclr_wgpu::train::session_map::FeatureMap;
use adclr_wgpu::train::session_record::{self as record, KnnPoint, Record};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

pub(crate) fn js_error(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(js_error)?;
    js_sys::JSON::parse(&text)
}

/// Settings by name, as JSON: `page` (the laptop recipe on the embedded subset, WebGPU's
/// default limits: the run that learns on a GPU) or `small-test` (the browser test's two steps
/// of a 16-px model, what a CPU adapter runs).
#[wasm_bindgen]
pub fn named_settings(name: &str) -> Result<String, JsValue> {
    let settings = match name {
        "page" => Settings::page().map_err(js_error)?,
        "small-test" => Settings::small_test(),
        other => return Err(js_error(format!("no settings named `{other}`: use page or small-test"))),
    };
    serde_json::to_string(&settings).map_err(js_error)
}

/// The side in pixels of the images `settings` (as `train` takes them) train on: what the
/// page decodes the visitor's images to.
#[wasm_bindgen]
pub fn image_size(settings: JsValue) -> Result<usize, JsValue> {
    settings_of(0, settings)?.image_size().map_err(js_error)
}

/// `settings` (a JSON string or object with `Settings`' keys; undefined: `page`) with `steps`
/// steps (0: the settings' own).
pub(crate) fn settings_of(steps: u32, settings: JsValue) -> Result<Settings, JsValue> {
    let text = match settings.as_string() {
        Some(s) => s,
        None if settings.is_undefined() || settings.is_null() => named_settings("page")?,
        None => String::from(js_sys::JSON::stringify(&settings)?),
    };
    let mut settings = Settings::from_json(&text).map_err(js_error)?;
    if steps > 0 {
        settings.steps = steps as usize;
    }
    Ok(settings)
}

/// What `onEvent` receives: a step's losses with the time since the first step began, the
/// k-NN of the teacher against the floor during the run (every `knn_every` steps), or a phase
/// of the run ("opening", "k-NN", "attention").
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Event<'a> {
    Step { total: usize, seconds: f64, log: &'a StepLog },
    Knn { point: &'a KnnPoint },
    Phase { text: &'a str },
}

fn emit(on_event: &js_sys::Function, event: &Event) {
    if let Ok(value) = to_js(event) {
        // A throwing callback must not stop the run: the page shows its own errors.
        let _ = on_event.call1(&JsValue::NULL, &value);
    }
}

/// The end of a run: the record (losses, checksum, steps/s), the images it trained on, k-NN
/// against the floor (when the images have labels) and the teacher's CLS attention over a few
/// test or held-out images as RGBA pixels (`width` square), each beside the image itself; on
/// the visitor's images, the 2-D map of the teacher's features; `backbone` is added, the
/// teacher's backbone file (a Uint8Array).
#[derive(Serialize)]
struct Finished {
    record: Record,
    images: SetSizes,
    knn: Option<KnnFigures>,
    attention: Vec<Attention>,
    map: Option<FeatureMap>,
}

#[derive(Serialize)]
struct Attention {
    width: u32,
    /// Index in the images shown (the embedded test split, or the visitor's held-out images).
    image: usize,
    /// The heat map blended over the image.
    rgba: Vec<u8>,
    /// The image alone.
    image_rgba: Vec<u8>,
}

/// Test images whose attention the page draws, from `attention_image` on.
const ATTENTION_IMAGES: usize = 3;
/// Most of the visitor's images in the feature map.
const MAP_IMAGES: usize = 1000;

fn rgba(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

/// Trains `steps` steps (0: the settings' own) of `settings` (a JSON string or object with
/// `Settings`' keys; undefined: `page`) on the embedded subset, calling `onEvent` after each
/// step, then measures k-NN (unless `knn_bank` is 0) and draws the attention map. Rejects with
/// the error's text.
#[wasm_bindgen]
pub async fn train(steps: u32, settings: JsValue, on_event: js_sys::Function) -> Result<JsValue, JsValue> {
    run(settings_of(steps, settings)?, SessionImages::Embedded, &on_event).await
}

/// Opens the session on `images`, trains it, then evaluates and draws what the images allow.
pub(crate) async fn run(
    settings: Settings,
    images: SessionImages,
    on_event: &js_sys::Function,
) -> Result<JsValue, JsValue> {
    emit(on_event, &Event::Phase { text: "opening the WebGPU device and compiling the kernels" });
    let mut trainer = Trainer::open_with(settings.clone(), images).await.map_err(js_error)?;
    emit(on_event, &Event::Phase { text: &format!("training on {}", trainer.describe()) });
    let total = trainer.total_steps();
    let record = record::train_with_knn(
        &mut trainer,
        &mut |log, seconds| emit(on_event, &Event::Step { total, seconds, log }),
        &mut |point| emit(on_event, &Event::Knn { point }),
    )
    .await
    .map_err(js_error)?;
    let knn = match settings.knn_bank {
        0 => None,
        _ if !trainer.sets.labelled() => None,
        bank => {
            emit(on_event, &Event::Phase { text: "k-NN of the teacher and of the random initialisation" });
            Some(trainer.knn(bank).await.map_err(js_error)?)
        }
    };
    emit(on_event, &Event::Phase { text: "the teacher's attention maps" });
    let shown = trainer.sets.shown().map_err(js_error)?.len();
    let mut attention = Vec::new();
    // From `attention_image` on, wrapping at the end of the images shown (a bad index is named
    // by the first call).
    for i in 0..ATTENTION_IMAGES.min(shown) {
        let image = if i == 0 { settings.attention_image } else { (settings.attention_image + i) % shown };
        let (width, heat, plain) = trainer.attention_tile(image, 128).await.map_err(js_error)?;
        attention.push(Attention { width, image, rgba: rgba(&heat), image_rgba: rgba(&plain) });
    }
    let map = match trainer.sets.is_own() {
        true => {
            emit(on_event, &Event::Phase { text: "the map of the teacher's features" });
            Some(trainer.feature_map(MAP_IMAGES).await.map_err(js_error)?)
        }
        false => None,
    };
    emit(on_event, &Event::Phase { text: "the teacher's backbone for download" });
    let backbone = trainer.teacher_backbone().await.map_err(js_error)?;
    let images = trainer.sets.sizes();
    let finished = to_js(&Finished { record, images, knn, attention, map })?;
    // The file's bytes as a Uint8Array beside the JSON-born fields (no JSON round trip).
    js_sys::Reflect::set(&finished, &JsValue::from_str("backbone"), &js_sys::Uint8Array::from(&backbone[..]))?;
    Ok(finished)
}
