//! Checkpoints: save -> load -> save keeps every tensor's bytes; resume equals continuing;
//! export writes the teacher backbone with timm names; bad files give clear errors.

mod common;

use adclr_wgpu::checkpoint::{self, Normalization};
use adclr_wgpu::model::batch::StepHyper;
use adclr_wgpu::model::config::AdclrConfig;
use adclr_wgpu::model::step::{AdclrStep, Flat};
use adclr_wgpu::perf::bench::synthetic_input;
use common::{engine, Rng};
use safetensors::SafeTensors;

fn tiny() -> AdclrConfig {
    let model = common::tiny_model();
    let mut c = AdclrConfig::new(model, 2);
    c.queries = 3;
    c.local_crops = 1;
    c
}

fn hyper(freeze: bool) -> StepHyper {
    StepHyper {
        lr: 2e-3,
        weight_decay: 0.04,
        teacher_momentum: 0.99,
        teacher_temp: 0.04,
        teacher_query_temp: 0.04,
        freeze_last_layer: freeze,
    }
}

fn tensor_bytes(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st.tensors().into_iter().map(|(n, t)| (n, t.data().to_vec())).collect();
    v.sort();
    v
}

#[test]
fn save_load_save_keeps_every_tensor_and_resume_equals_continuing() {
    let e = engine();
    let c = tiny();
    let dir = std::env::temp_dir().join(format!("adclr-ck-{}", std::process::id()));
    let (p1, p2) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    let mut s = AdclrStep::new(e, &c, 1).unwrap();
    // One step with the last layer frozen, one without: per-tensor step counts differ.
    s.run(e, &synthetic_input(&c, 1), &hyper(true)).unwrap();
    s.run(e, &synthetic_input(&c, 2), &hyper(false)).unwrap();
    let st = s.state(e, 1234).unwrap();
    checkpoint::save_training(&p1, &c.model, &Normalization::IMAGENET, &[("batch".into(), "2".into())], &st).unwrap();
    let loaded = checkpoint::load_training(&p1).unwrap();
    assert_eq!(loaded.model, c.model);
    assert_eq!(loaded.state, st);
    assert_eq!(loaded.metadata.get("batch").map(String::as_str), Some("2"));
    checkpoint::save_training(&p2, &c.model, &Normalization::IMAGENET, &[("batch".into(), "2".into())], &loaded.state)
        .unwrap();
    assert_eq!(tensor_bytes(&p1), tensor_bytes(&p2));
    assert!(st.tensor_steps.contains(&1) && st.tensor_steps.contains(&2), "frozen last layer keeps its own step count");

    // Resume in a fresh step object and continue: equal to continuing the original.
    let mut resumed = AdclrStep::new(e, &c, 99).unwrap();
    resumed.load_state(e, &loaded.state).unwrap();
    for seed in 3..5 {
        s.run(e, &synthetic_input(&c, seed), &hyper(false)).unwrap();
        resumed.run(e, &synthetic_input(&c, seed), &hyper(false)).unwrap();
    }
    for which in [Flat::Student, Flat::Teacher, Flat::AdamM, Flat::AdamV] {
        assert_eq!(s.read_flat(e, which).unwrap(), resumed.read_flat(e, which).unwrap(), "{which:?}");
    }
    assert_eq!(s.centre_query.read_f32(&e.ctx).unwrap(), resumed.centre_query.read_f32(&e.ctx).unwrap());

    // Export: teacher backbone only, timm names and layouts.
    let out = dir.join("backbone.safetensors");
    checkpoint::export_backbone(&p1, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let exported = SafeTensors::deserialize(&bytes).unwrap();
    let names = exported.names();
    assert!(names.iter().all(|n| !n.starts_with("head.") && !n.starts_with("teacher.") && !n.starts_with("student.")));
    assert_eq!(exported.tensor("pos_embed").unwrap().shape(), &[1, 17, 32]);
    assert_eq!(exported.tensor("patch_embed.proj.weight").unwrap().shape(), &[32, 3, 4, 4]);
    assert_eq!(exported.tensor("blocks.1.attn.qkv.weight").unwrap().shape(), &[96, 32]);
    assert_eq!(names.len(), 4 + 12 * 2 + 2);
    let teacher_qkv: Vec<u8> = st.teacher["blocks.1.attn.qkv.weight"].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(exported.tensor("blocks.1.attn.qkv.weight").unwrap().data(), &teacher_qkv[..]);
    let (m, norm, backbone) = checkpoint::load_backbone(&out).unwrap();
    assert_eq!((m, norm), (c.model.clone(), Normalization::IMAGENET));
    assert_eq!(backbone["norm.bias"], st.teacher["norm.bias"]);
    // A backbone file (what the browser page downloads) exports to the same bytes.
    let again = dir.join("backbone-again.safetensors");
    checkpoint::export_backbone(&out, &again).unwrap();
    assert_eq!(checkpoint::load_backbone(&again).unwrap(), checkpoint::load_backbone(&out).unwrap());
    let again_bytes = std::fs::read(&again).unwrap();
    let meta = |b: &[u8]| SafeTensors::read_metadata(b).unwrap().1.metadata().clone().unwrap();
    assert_eq!(meta(&again_bytes), meta(&bytes), "kind, step, model and checksum kept");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn broken_checkpoints_give_clear_errors() {
    let dir = std::env::temp_dir().join(format!("adclr-ck-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"this is not a checkpoint").unwrap();
    let msg = checkpoint::load_training(&junk).err().unwrap().to_string();
    assert!(msg.contains("junk.safetensors") && msg.contains("safetensors"), "{msg}");
    let missing = checkpoint::load_training(&dir.join("nope.safetensors")).err().unwrap().to_string();
    assert!(missing.contains("cannot read"), "{missing}");
    // A file cut short (as by a crash mid-copy) is rejected, not half-loaded.
    let e = engine();
    let c = tiny();
    let s = AdclrStep::new(e, &c, 1).unwrap();
    let good = dir.join("good.safetensors");
    checkpoint::save_training(&good, &c.model, &Normalization::IMAGENET, &[], &s.state(e, 0).unwrap()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    assert!(checkpoint::load_training(&cut).is_err());
    // No temporary files are left behind by an atomic save.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn damaged_and_non_finite_checkpoints_are_refused_at_load_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("adclr-ck-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = engine();
    let c = tiny();
    let state = AdclrStep::new(e, &c, 1).unwrap().state(e, 0).unwrap();
    let good = dir.join("good.safetensors");
    checkpoint::save_training(&good, &c.model, &Normalization::IMAGENET, &[], &state).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // 64 bytes of tensor data changed after the write: every loader names the checksum.
    let mut flipped = bytes.clone();
    let mut rng = Rng::new(5);
    for _ in 0..64 {
        let at = header + (rng.uniform() * (bytes.len() - header) as f64) as usize;
        flipped[at] ^= 0x5a;
    }
    let bad = dir.join("flipped.safetensors");
    std::fs::write(&bad, &flipped).unwrap();
    for msg in [
        checkpoint::load_training(&bad).err().unwrap().to_string(),
        checkpoint::load_backbone(&bad).err().unwrap().to_string(),
    ] {
        assert!(msg.contains("flipped.safetensors") && msg.contains("checksum"), "{msg}");
    }
    // A state holding NaN (written around the checks) is refused naming the tensor.
    let mut nan = state.clone();
    nan.teacher.get_mut("blocks.1.attn.proj.bias").unwrap()[2] = f32::NAN;
    let nan_path = dir.join("nan.safetensors");
    checkpoint::save_training(&nan_path, &c.model, &Normalization::IMAGENET, &[], &nan).unwrap();
    let msg = checkpoint::load_training(&nan_path).err().unwrap().to_string();
    assert!(msg.contains("`teacher.blocks.1.attn.proj.bias` holds NaN"), "{msg}");
    let msg = checkpoint::load_backbone(&nan_path).err().unwrap().to_string();
    assert!(msg.contains("`teacher.blocks.1.attn.proj.bias` holds NaN"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Random bytes, and a valid file with random bytes changed anywhere (header included), fed
/// to every loader of user files: an error or a value, never a panic.
#[test]
fn loaders_survive_random_bytes() {
    let dir = std::env::temp_dir().join(format!("adclr-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(17);
    let mut byte = || (rng.uniform() * 256.0) as u8;
    let e = engine();
    let c = tiny();
    let good = dir.join("good.safetensors");
    let state = AdclrStep::new(e, &c, 1).unwrap().state(e, 0).unwrap();
    checkpoint::save_training(&good, &c.model, &Normalization::IMAGENET, &[], &state).unwrap();
    let valid = std::fs::read(&good).unwrap();
    let png_signature = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let idx_header = [0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    for round in 0..200 {
        let len = 1 + (byte() as usize) * (1 + round % 8);
        let noise: Vec<u8> = (0..len).map(|_| byte()).collect();
        // IDX: pure noise, and a plausible header over noise (labels too).
        assert!(adclr_wgpu::data::idx::parse(noise.clone(), None).is_err());
        let forged = [&idx_header[..], &noise].concat();
        let _ = adclr_wgpu::data::idx::parse(forged, Some(noise.clone()));
        // Images: a PNG signature over noise.
        let png = dir.join(format!("noise-{}.png", round % 4));
        std::fs::write(&png, [&png_signature[..], &noise].concat()).unwrap();
        assert!(adclr_wgpu::data::image_io::load_rgb(&png).is_err());
        // Checkpoints: noise, and the valid file with a few bytes changed anywhere.
        let ck = dir.join(format!("noise-{}.safetensors", round % 4));
        std::fs::write(&ck, &noise).unwrap();
        assert!(checkpoint::load_training(&ck).is_err() && checkpoint::load_backbone(&ck).is_err());
        let mut changed = valid.clone();
        for _ in 0..1 + round % 5 {
            let at = ((byte() as usize) << 16 | (byte() as usize) << 8 | byte() as usize) % changed.len();
            changed[at] = byte();
        }
        std::fs::write(&ck, &changed).unwrap();
        let _ = checkpoint::load_training(&ck);
        let _ = checkpoint::load_backbone(&ck);
    }
    std::fs::remove_dir_all(&dir).ok();
}
