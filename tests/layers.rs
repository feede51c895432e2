//! The layering of `src/` (see `src/lib.rs`): every `crate::X` path in a module's code (tests
//! excluded) names a module of its own layer or one below, and the GPU-free bottom (`spec`,
//! `reference`, `error`, `rng`, `fs`) names neither `wgpu` nor the GPU runtime.

use std::path::Path;

/// Top-level modules by layer, bottom first.
const LAYERS: [&[&str]; 10] = [
    &["error", "fs", "rng", "spec", "reference", "figures", "Error", "Result"],
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
const GPU_FREE: [&str; 5] = ["error", "fs", "rng", "spec", "reference"];

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
