//! TensorBoard event files (`events.out.tfevents.*`) with scalars and PNG images, for
//! `tensorboard --logdir runs` and for W&B's TensorBoard sync. A file is a TFRecord stream: each
//! record is its length (u64, little-endian), the masked CRC-32C of those 8 bytes, the bytes of
//! one `Event` protocol buffer (tensorflow/core/util/event.proto, summary.proto), and their
//! masked CRC-32C. Only the fields written here are declared; the tags are TensorBoard's.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `Event`: a time, a step and one payload.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "Payload", tags = "3, 5, 7")]
    payload: Option<Payload>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Payload {
    /// The first event of every file: the format's version.
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    /// Field 7 (6 is the deprecated LogMessage).
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `Summary.Value`: a tag and a scalar or an image.
#[derive(Clone, PartialEq, prost::Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(oneof = "Value", tags = "2, 4")]
    value: Option<Value>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Value {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "4")]
    Image(Image),
}

/// `Summary.Image`: an encoded (PNG) image with its size; colorspace 3 = RGB, 4 = RGBA.
#[derive(Clone, PartialEq, prost::Message)]
struct Image {
    #[prost(int32, tag = "1")]
    height: i32,
    #[prost(int32, tag = "2")]
    width: i32,
    #[prost(int32, tag = "3")]
    colorspace: i32,
    #[prost(bytes = "vec", tag = "4")]
    encoded_image_string: Vec<u8>,
}

/// `SessionLog` with status START (1): TensorBoard drops the events of this run at this step
/// and later that an earlier file holds (a run resumed from a checkpoint writes them again).
#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    #[prost(int32, tag = "1")]
    status: i32,
}

const SESSION_START: i32 = 1;
const FILE_VERSION: &str = "brain.Event:2";

/// TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant.
fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length, its checksum, the data, the data's checksum.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// Files opened by this process so far: two writers opened within a second get two names.
static OPENED: AtomicUsize = AtomicUsize::new(0);

/// An event file being appended to; every write reaches the file before it returns, so a
/// killed run keeps what it logged.
pub struct EventWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir`, named as TensorBoard's own writers name theirs
    /// (`events.out.tfevents.SECONDS.adclr-wgpu.PID.N`, so files sort by time).
    pub fn create(dir: &Path) -> Result<Self> {
        let seconds =
            web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let n = OPENED.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("events.out.tfevents.{seconds:010}.adclr-wgpu.{}.{n}", std::process::id()));
        let file = std::fs::File::create(&path).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        let mut w = Self { file, path };
        w.write(0, Payload::FileVersion(FILE_VERSION.into()))?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: u64, payload: Payload) -> Result<()> {
        let wall_time =
            web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let event = Event { wall_time, step: step as i64, payload: Some(payload) };
        let bytes = prost::Message::encode_to_vec(&event);
        self.file.write_all(&record(&bytes)).map_err(|e| Error::Data(format!("{}: {e}", self.path.display())))
    }

    /// Scalars at `step`, one event (`tag`, value) for all of them.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let value = values
            .iter()
            .map(|(tag, v)| SummaryValue { tag: tag.clone(), value: Some(Value::SimpleValue(*v as f32)) })
            .collect();
        self.write(step, Payload::Summary(Summary { value }))
    }

    /// A PNG image under `tag` at `step`.
    pub fn png(&mut self, tag: &str, step: u64, png: &[u8]) -> Result<()> {
        let (width, height, colorspace) =
            png_header(png).ok_or_else(|| Error::Data(format!("{tag}: not a PNG image")))?;
        let image = Image { height, width, colorspace, encoded_image_string: png.to_vec() };
        let value = vec![SummaryValue { tag: tag.into(), value: Some(Value::Image(image)) }];
        self.write(step, Payload::Summary(Summary { value }))
    }

    /// Marks a restart at `step` (a resumed run): TensorBoard forgets what earlier files hold
    /// at this step and after.
    pub fn restart_at(&mut self, step: u64) -> Result<()> {
        self.write(step, Payload::SessionLog(SessionLog { status: SESSION_START }))
    }
}

/// (width, height, channels) from a PNG's header (IHDR); channels 3 for RGB, 4 for RGBA, 1 grey.
fn png_header(png: &[u8]) -> Option<(i32, i32, i32)> {
    if png.len() < 26 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |at: usize| i32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    let channels = match png[25] {
        0 => 1,
        4 => 2,
        6 => 4,
        _ => 3,
    };
    Some((be(16), be(20), channels))
}

/// The TensorBoard tag of a metrics.jsonl key: `knn/...` for the k-NN figures (`knn_` dropped),
/// `train/KEY` for the rest.
pub fn tag_of(key: &str) -> String {
    match key.strip_prefix("knn_") {
        Some(rest) => format!("knn/{rest}"),
        None => format!("train/{key}"),
    }
}

/// The scalars of one metrics.jsonl line: its `step` and every other number under `tag_of`;
/// the final k-NN's line (`"final_knn": true`, another bank than the k-NN during the run, maybe
/// at the same step) under `knn_final/...` instead of `knn/...`.
pub fn scalars_of(line: &serde_json::Value) -> Option<(u64, Vec<(String, f64)>)> {
    let object = line.as_object()?;
    let step = object.get("step")?.as_u64()?;
    let last = object.get("final_knn").and_then(|v| v.as_bool()) == Some(true);
    let values = object
        .iter()
        .filter(|(k, _)| k.as_str() != "step")
        .filter_map(|(k, v)| {
            let tag = match (last, k.strip_prefix("knn_")) {
                (true, Some(rest)) => format!("knn_final/{rest}"),
                _ => tag_of(k),
            };
            Some((tag, v.as_f64().filter(|x| x.is_finite())?))
        })
        .collect();
    Some((step, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the records back: length, checksums, payload.
    fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            assert_eq!(u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()), masked_crc(len_bytes));
            let data = &bytes[at + 12..at + 12 + len];
            assert_eq!(u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap()), masked_crc(data));
            out.push(data.to_vec());
            at += 16 + len;
        }
        out
    }

    #[test]
    fn the_checksum_is_tfrecords_masked_crc32c() {
        // CRC-32C of "123456789" is 0xE3069283 (the standard check value); masked by hand:
        // rotated right by 15 bits (0x2507C60D), plus 0xA282EAD8.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn a_file_holds_its_version_then_the_events_in_order() {
        let dir = std::env::temp_dir().join(format!("adclr-tb-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = EventWriter::create(&dir).unwrap();
        w.scalars(3, &[("train/loss".into(), 1.25), ("knn/teacher_top1".into(), 70.5)]).unwrap();
        // A 1x1 RGBA PNG header (the writer reads its size, not its pixels).
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
        w.png("figures/loss", 4, &png).unwrap();
        w.restart_at(2).unwrap();
        assert!(w.png("bad", 1, b"GIF89a").unwrap_err().to_string().contains("not a PNG"));
        let events: Vec<Event> = records(&std::fs::read(w.path()).unwrap())
            .iter()
            .map(|r| <Event as prost::Message>::decode(r.as_slice()).unwrap())
            .collect();
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].payload, Some(Payload::FileVersion(FILE_VERSION.into())));
        let Some(Payload::Summary(s)) = &events[1].payload else { panic!("{:?}", events[1]) };
        assert_eq!(events[1].step, 3);
        assert_eq!(s.value[1].tag, "knn/teacher_top1");
        assert_eq!(s.value[1].value, Some(Value::SimpleValue(70.5)));
        let Some(Payload::Summary(s)) = &events[2].payload else { panic!("{:?}", events[2]) };
        let Some(Value::Image(img)) = &s.value[0].value else { panic!("{s:?}") };
        assert_eq!((img.width, img.height, img.colorspace, img.encoded_image_string.len()), (2, 1, 4, png.len()));
        assert_eq!((events[3].step, &events[3].payload), (2, &Some(Payload::SessionLog(SessionLog { status: 1 }))));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn metrics_lines_become_tagged_scalars() {
        let line = serde_json::json!({"step": 5, "loss": 2.5, "knn_teacher_top1": 71.0, "final_knn": false, "x": null});
        let (step, mut values) = scalars_of(&line).unwrap();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(step, 5);
        assert_eq!(values, vec![("knn/teacher_top1".into(), 71.0), ("train/loss".into(), 2.5)]);
        assert!(scalars_of(&serde_json::json!({"loss": 1.0})).is_none(), "a line without a step");
        let last = serde_json::json!({"step": 5, "final_knn": true, "knn_teacher_top1": 72.0});
        assert_eq!(scalars_of(&last).unwrap().1, vec![("knn_final/teacher_top1".to_string(), 72.0)]);
    }
}
