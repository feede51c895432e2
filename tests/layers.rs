//! The layering of `src/` (see `src/lib.rs`): every `crate::X` path in a module's code (tests
//! excluded) names a module of its own layer or one below, and the GPU-free bottom (`spec`,
//! `reference`, `error`, `rng`, `fs`) names neither `wgpu` nor the GPU runtime.

use std::path::Path;

/// Top-level modules by layer, bottom first.
const LAYERS: [&[&str]; 10] = [
    &["error", "fs", "rng", "dist", "spec", "reference", "figures", "tensorboard", "Error", "Result"],
    &["gpu"],
    &["ops"],
    &["model"],
    &["data"],
    &["checkpoint"],
    &["eval"],
    &["train"],
    &["ablate", "perf"],
    &["cli"],
];

/// Modules that must build without a GPU.
const GPU_FREE: [&str; 7] = ["error", "fs", "rng", "dist", "spec", "reference", "tensorboard"];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir` with its top-level module name.
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            sources(&path, Some(top.unwrap_or(&name)), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((top.unwrap_or(&name).to_string(), path));
        }
    }
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn modules_use_only_their_own_layer_and_those_below() {
    let mut files = Vec::new();
    sources(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(), None, &mut files);
    let mut upward = Vec::new();
    let mut unknown = Vec::new();
    for (top, path) in &files {
        if top == "main" || top == "lib" {
            continue;
        }
        let Some(own) = layer(top) else {
            unknown.push(top.clone());
            continue;
        };
        let text = code(path);
        assert!(!text.contains("crate::{"), "{}: grouped `crate::{{..}}` imports hide their layers", path.display());
        for (i, _) in text.match_indices("crate::") {
            let used: String = text[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            match layer(&used) {
                Some(l) if l > own => upward.push(format!("{} ({top}) -> {used}", path.display())),
                None => unknown.push(format!("{} -> {used}", path.display())),
                _ => {}
            }
        }
        if GPU_FREE.contains(&top.as_str()) {
            let gpu = ["wgpu::", "use wgpu", "crate::gpu", "crate::ops"];
            assert!(!gpu.iter().any(|g| text.contains(g)), "{} is GPU-free but uses the GPU", path.display());
        }
    }
    upward.dedup();
    assert!(upward.is_empty(), "imports from a layer above:\n{}", upward.join("\n"));
    assert!(unknown.is_empty(), "modules missing from the layer table: {unknown:?}");
}

fn stems(dir: &str, ext: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    out.sort();
    out
}

/// An op keeps one name in four places: `src/ops/<op>.rs`, `src/reference/<op>.rs`,
/// `tests/gpu/<op>.rs` and `shaders/<op>*.wgsl`; files outside that scheme are listed here
/// with the reason.
#[test]
fn every_op_has_one_name_across_shaders_launcher_reference_and_test() {
    // Launchers without a shader of their own: linear layers run on the matmul kernels.
    const NO_SHADER: [&str; 1] = ["linear"];
    // Model-level references (the ViT and the whole step) and the module roots.
    const REFERENCE_ONLY: [&str; 3] = ["mod", "step", "vit"];
    // GPU tests of the runtime rather than of one op.
    const RUNTIME_TESTS: [&str; 5] = ["checker", "errors", "main", "runtime", "tune"];
    let ops: Vec<String> = stems("src/ops", "rs").into_iter().filter(|s| s != "mod").collect();
    let (references, gpu_tests, shaders) =
        (stems("src/reference", "rs"), stems("tests/gpu", "rs"), stems("shaders", "wgsl"));
    for op in &ops {
        assert!(references.contains(op), "src/ops/{op}.rs has no src/reference/{op}.rs");
        assert!(gpu_tests.contains(op), "src/ops/{op}.rs has no tests/gpu/{op}.rs");
        let has_shader = shaders.iter().any(|s| s == op || s.starts_with(&format!("{op}_")));
        assert!(has_shader || NO_SHADER.contains(&op.as_str()), "src/ops/{op}.rs has no shaders/{op}*.wgsl");
    }
    for r in &references {
        assert!(ops.contains(r) || REFERENCE_ONLY.contains(&r.as_str()), "src/reference/{r}.rs names no op");
    }
    for t in &gpu_tests {
        assert!(ops.contains(t) || RUNTIME_TESTS.contains(&t.as_str()), "tests/gpu/{t}.rs names no op");
    }
    for s in &shaders {
        let op = ops.iter().any(|op| s == op || s.starts_with(&format!("{op}_")));
        assert!(op, "shaders/{s}.wgsl does not start with the name of an op in src/ops");
    }
}
