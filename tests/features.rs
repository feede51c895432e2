//! `features`: teacher CLS features of a folder of images, equal to the CPU reference
//! backbone on the same preprocessing; unreadable files are skipped and named.

mod common;

use adclr_wgpu::checkpoint::{self, Normalization};
use adclr_wgpu::data::image_io::{load_rgb, resize_center_crop};
use adclr_wgpu::data::patches::{normalize_chw, patchify};
use adclr_wgpu::eval::folder_features::What;
use adclr_wgpu::model::config::AdclrConfig;
use adclr_wgpu::model::pos_embed::resize_matrix;
use adclr_wgpu::model::step::AdclrStep;
use adclr_wgpu::reference::vit::{backbone_forward, GroupSpec, Named};
use common::{check_close, engine};
use safetensors::SafeTensors;

/// CLS features only, two images per forward, at the model's side.
fn cls_only() -> What {
    What { batch: 2, patches: false, side: None }
}

fn tiny() -> AdclrConfig {
    let model = common::tiny_model();
    let mut c = AdclrConfig::new(model, 2);
    c.queries = 0;
    c.lambda = 0.0;
    c
}

#[test]
fn features_of_a_folder_match_the_reference_backbone() {
    let e = engine();
    let c = tiny();
    let dir = std::env::temp_dir().join(format!("adclr-features-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(images.join("sub")).unwrap();
    // Three readable images of different sizes and kinds, one corrupt file.
    image::RgbImage::from_fn(20, 17, |x, y| image::Rgb([(x * 12) as u8, (y * 15) as u8, 90]))
        .save(images.join("a.png"))
        .unwrap();
    image::GrayImage::from_fn(16, 16, |x, y| image::Luma([((x + y) * 8) as u8])).save(images.join("b.png")).unwrap();
    image::RgbaImage::from_fn(30, 40, |x, _| image::Rgba([200, (x * 8) as u8, 10, 128]))
        .save(images.join("sub/c.png"))
        .unwrap();
    std::fs::write(images.join("broken.png"), b"not a png").unwrap();

    let step = AdclrStep::new(e, &c, 4).unwrap();
    let st = step.state(e, 0).unwrap();
    let ck = dir.join("ck.safetensors");
    checkpoint::save_training(&ck, &c.model, &Normalization::IMAGENET, &[], &st).unwrap();
    let out = dir.join("features.safetensors");
    let report = adclr_wgpu::eval::folder_features::extract(e, &ck, &images, &out, &cls_only(), |_, _| {}).unwrap();
    assert_eq!(report.written, 3);
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].contains("broken.png"), "{:?}", report.skipped);
    let names = std::fs::read_to_string(&report.names_file).unwrap();
    assert_eq!(names.lines().collect::<Vec<_>>(), vec!["a.png", "b.png", "sub/c.png"]);

    let bytes = std::fs::read(&out).unwrap();
    let st_out = SafeTensors::deserialize(&bytes).unwrap();
    let f = st_out.tensor("features").unwrap();
    assert_eq!(f.shape(), &[3, 32]);
    let got: Vec<f64> = f.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect();

    // The same images through the CPU reference backbone with the teacher's weights.
    let teacher: Named = st.teacher.iter().map(|(k, v)| (k.clone(), v.iter().map(|&x| x as f64).collect())).collect();
    let mut want = Vec::new();
    for name in ["a.png", "b.png", "sub/c.png"] {
        let img = resize_center_crop(&load_rgb(&images.join(name)).unwrap(), 16);
        let rows: Vec<f64> =
            patchify(&normalize_chw(&img, &Normalization::IMAGENET), 3, 16, 4).iter().map(|&x| x as f64).collect();
        let drop = vec![1.0; c.model.depth * 2];
        let g = GroupSpec {
            images: 1,
            patches: 16,
            queries: 0,
            patch_rows: &rows,
            query_rows: &[],
            pos_resize: None,
            drop: &drop,
        };
        want.extend_from_slice(&backbone_forward(&c, &teacher, &g).normed[..32]);
    }
    check_close("features", &got, &want, 1e-5, 1e-4).unwrap();

    // --patches at 24 px (a 6x6 grid, positional embeddings interpolated from 4x4): CLS and the
    // 36 patch tokens of each image, equal to the reference at that side.
    let what = What { batch: 2, patches: true, side: Some(24) };
    let with_patches = dir.join("patches.safetensors");
    let report = adclr_wgpu::eval::folder_features::extract(e, &ck, &images, &with_patches, &what, |_, _| {}).unwrap();
    assert_eq!((report.written, report.grid), (3, Some(6)));
    let bytes = std::fs::read(&with_patches).unwrap();
    let st_out = SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str, shape: &[usize]| -> Vec<f64> {
        let t = st_out.tensor(name).unwrap();
        assert_eq!(t.shape(), shape, "{name}");
        t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect()
    };
    let (got_cls, got_patches) = (read("features", &[3, 32]), read("patches", &[3, 36, 32]));
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap_or_default();
    assert_eq!((meta.get("grid").map(String::as_str), meta.get("side").map(String::as_str)), (Some("6"), Some("24")));
    let resize = resize_matrix(4, 6);
    let (mut want_cls, mut want_patches) = (Vec::new(), Vec::new());
    for name in ["a.png", "b.png", "sub/c.png"] {
        let img = resize_center_crop(&load_rgb(&images.join(name)).unwrap(), 24);
        let rows: Vec<f64> =
            patchify(&normalize_chw(&img, &Normalization::IMAGENET), 3, 24, 4).iter().map(|&x| x as f64).collect();
        let drop = vec![1.0; c.model.depth * 2];
        let g = GroupSpec {
            images: 1,
            patches: 36,
            queries: 0,
            patch_rows: &rows,
            query_rows: &[],
            pos_resize: Some(&resize),
            drop: &drop,
        };
        let normed = backbone_forward(&c, &teacher, &g).normed;
        want_cls.extend_from_slice(&normed[..32]);
        want_patches.extend_from_slice(&normed[32..37 * 32]);
    }
    check_close("features at 24 px", &got_cls, &want_cls, 1e-5, 1e-4).unwrap();
    check_close("patch tokens at 24 px", &got_patches, &want_patches, 1e-5, 1e-4).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn features_of_an_empty_folder_is_a_clear_error() {
    let e = engine();
    let dir = std::env::temp_dir().join(format!("adclr-features-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = tiny();
    let step = AdclrStep::new(e, &c, 4).unwrap();
    let ck = dir.join("ck.safetensors");
    checkpoint::save_training(&ck, &c.model, &Normalization::IMAGENET, &[], &step.state(e, 0).unwrap()).unwrap();
    let empty = dir.join("none");
    std::fs::create_dir_all(&empty).unwrap();
    let msg =
        adclr_wgpu::eval::folder_features::extract(e, &ck, &empty, &dir.join("f.safetensors"), &cls_only(), |_, _| {})
            .err()
            .unwrap()
            .to_string();
    assert!(msg.contains("no image files"), "{msg}");
    // Only unreadable images: the reason of the first is given.
    std::fs::write(empty.join("broken.png"), b"not a png").unwrap();
    let msg =
        adclr_wgpu::eval::folder_features::extract(e, &ck, &empty, &dir.join("f.safetensors"), &cls_only(), |_, _| {})
            .err()
            .unwrap()
            .to_string();
    assert!(
        msg.contains("none of the 1 image files could be read (the first: ") && msg.contains("broken.png"),
        "{msg}"
    );
    // An output that cannot be written (an existing folder): the error names it, not a
    // checkpoint, and no names file is left beside it.
    image::RgbImage::from_pixel(20, 20, image::Rgb([9, 99, 199])).save(empty.join("good.png")).unwrap();
    let out = dir.join("a-folder");
    std::fs::create_dir_all(out.join("inside")).unwrap();
    let msg = adclr_wgpu::eval::folder_features::extract(e, &ck, &empty, &out, &cls_only(), |_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(msg.starts_with(&out.display().to_string()) && msg.contains("cannot"), "{msg}");
    assert!(!adclr_wgpu::eval::folder_features::names_path(&out).exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// `embed`: a PNG of two maps (the checkpoint and its random initialisation) and a CSV with a
/// row per test image and map, in the order of the evenly spaced test images, with their labels.
#[test]
fn embed_writes_a_map_and_its_points_for_a_checkpoint_and_its_floor() {
    use adclr_wgpu::data::dataset::{Dataset, Split};
    let e = engine();
    let dir = std::env::temp_dir().join(format!("adclr-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = tiny();
    let step = AdclrStep::new(e, &c, 4).unwrap();
    let ck = dir.join("ck.safetensors");
    checkpoint::save_training(&ck, &c.model, &Normalization::IMAGENET, &[], &step.state(e, 0).unwrap()).unwrap();
    let exe = env!("CARGO_BIN_EXE_adclr-wgpu");
    let map = dir.join("map.png");
    let run = |extra: &[&str]| {
        let mut args = vec!["embed", "--checkpoint", ck.to_str().unwrap(), "--out", map.to_str().unwrap()];
        args.extend_from_slice(extra);
        std::process::Command::new(exe).args(&args).output().unwrap()
    };
    let out = run(&["--images", "50"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("10-NN in the 2-D map: trained "), "{stdout}");
    let png = image::open(&map).unwrap();
    assert!(png.width() > 1000 && png.height() > 500, "{}x{}", png.width(), png.height());
    let csv = std::fs::read_to_string(dir.join("map.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "map,image,label,class,x,y");
    assert_eq!(lines.len(), 1 + 2 * 50);
    let test = Dataset::open("embedded", Split::Test).unwrap();
    let labels = test.labels.clone().unwrap();
    for (n, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], if n < 50 { "trained" } else { "random-init" });
        let image: usize = f[1].parse().unwrap();
        assert_eq!(image, (n % 50) * test.len() / 50, "evenly spaced");
        assert_eq!(f[2].parse::<usize>().unwrap(), labels[image]);
        assert!(f[4].parse::<f64>().unwrap().is_finite() && f[5].parse::<f64>().unwrap().is_finite());
    }
    // A dataset without a labelled test split is refused, naming it.
    let folder = dir.join("unlabelled");
    std::fs::create_dir_all(&folder).unwrap();
    image::RgbImage::new(8, 8).save(folder.join("x.png")).unwrap();
    let out = run(&["--data", folder.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("unlabelled"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
