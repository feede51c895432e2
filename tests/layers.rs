//! The layering of `src/` (see `src/lib.rs`): every `crate::X` path in a module's code (tests
//! excluded) names a module of its own layer or one below, and the GPU-free bottom (`spec`,
//! `reference`, `error`, `rng`, `fs`) names neither `wgpu` nor the GPU runtime. Within a
//! layer, no files import from each other in a circle.

use std::path::Path;

/// Top-level modules by layer, bottom first.
const LAYERS: [&[&str]; 10] = [
    &["error", "fs", "rng", "dist", "spec", "reference", "figures", "tensorboard", "knobs", "Error", "Result"],
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
const GPU_FREE: [&str; 8] = ["error", "fs", "rng", "dist", "spec", "reference", "tensorboard", "knobs"];

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
    // GPU tests of the runtime rather than of one op, and the browser's shared cases
    // (tests/cases) run natively.
    const RUNTIME_TESTS: [&str; 6] = ["browser", "checker", "errors", "main", "runtime", "tune"];
    // Parts of one op's launcher in a file of their own (the matmul's choice of variant).
    const LAUNCHER_PARTS: [&str; 1] = ["matmul_variant"];
    let ops: Vec<String> =
        stems("src/ops", "rs").into_iter().filter(|s| s != "mod" && !LAUNCHER_PARTS.contains(&s.as_str())).collect();
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

/// The code of a file without comments, the contents of string and character literals, and
/// its `#[cfg(test)]` items (each up to its closing brace or semicolon).
fn bare_code(path: &Path) -> String {
    let text: Vec<char> = std::fs::read_to_string(path).unwrap().chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        let (c, next) = (text[i], text.get(i + 1).copied());
        if c == '/' && next == Some('/') {
            while i < text.len() && text[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < text.len() {
                if text[i] == '/' && text.get(i + 1) == Some(&'*') {
                    (depth, i) = (depth + 1, i + 2);
                } else if text[i] == '*' && text.get(i + 1) == Some(&'/') {
                    (depth, i) = (depth - 1, i + 2);
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(text.get(i.wrapping_sub(1))) {
            // A raw string: r"..", r#".."#.
            let hashes = text[i + 1..].iter().take_while(|&&h| h == '#').count();
            if text.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < text.len()
                && !(text[i] == '"' && text[i + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes)
            {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < text.len() && text[i] != '"' {
                i += if text[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || text.get(i + 2) == Some(&'\'')) {
            // A character literal (a lifetime has no closing quote).
            i += 1;
            while i < text.len() && text[i] != '\'' {
                i += if text[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    // `#[cfg(test)]` items: up to the first `;` or the brace closing the first `{`.
    while let Some(start) = out.find("#[cfg(test)]") {
        let mut depth = 0;
        let mut end = out.len();
        for (j, ch) in out[start..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + j + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = start + j + 1;
                    break;
                }
                _ => {}
            }
        }
        out.replace_range(start..end, " ");
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while ident_char(chars.get(i)) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// The paths of a `use` tree or an expression path starting at `t[*i]`, after `prefix`.
fn paths(t: &[String], i: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        match t.get(*i).map(String::as_str) {
            Some("{") => {
                *i += 1;
                while *i < t.len() && t[*i] != "}" {
                    paths(t, i, path.clone(), out);
                    if t.get(*i).is_some_and(|s| s == ",") {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(s) if ident_char(s.chars().next().as_ref()) => {
                if s != "self" || path.is_empty() {
                    path.push(s.to_string());
                }
                *i += 1;
                if t.get(*i).is_some_and(|s| s == "::") {
                    *i += 1;
                    continue;
                }
                out.push(path);
                return;
            }
            _ => {
                // `*`, `as`'s alias or the end of an expression path.
                out.push(path);
                return;
            }
        }
    }
}

/// The module path of every library file (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`).
fn module_files() -> Vec<(Vec<String>, std::path::PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    let mut out = Vec::new();
    for (_, path) in files {
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        let mut module: Vec<String> = rel.iter().map(|s| s.to_string_lossy().to_string()).collect();
        match module.last().map(String::as_str) {
            Some("main") if module.len() == 1 => continue,
            Some("lib") if module.len() == 1 => module.clear(),
            Some("mod") => drop(module.pop()),
            _ => {}
        }
        out.push((module, path));
    }
    out.sort();
    out
}

/// The files each library file imports from, with one path naming each: `crate::`, `super::`,
/// `self::` and child-module paths, resolved to the longest prefix that is a file. A module's
/// own descendants are parts of it, not imports: a root declares, re-exports and dispatches to
/// its children, which may use the helpers it shares (`crate::gpu::Engine` from inside `gpu/`
/// imports `gpu/mod.rs`).
fn imports() -> std::collections::BTreeMap<std::path::PathBuf, std::collections::BTreeMap<std::path::PathBuf, String>> {
    let files = module_files();
    let file_of = |m: &[String]| files.iter().find(|(f, _)| f == m).map(|(_, p)| p.clone());
    let mut graph = std::collections::BTreeMap::new();
    for (module, path) in &files {
        let t = tokens(&bare_code(path));
        let children: Vec<&str> =
            t.windows(3).filter(|w| w[0] == "mod" && w[2] == ";").map(|w| w[1].as_str()).collect();
        let mut edges = std::collections::BTreeMap::new();
        let mut i = 0;
        while i < t.len() {
            let s = t[i].as_str();
            let after_path = i > 0 && (t[i - 1] == "::" || t[i - 1] == "." || (t[i - 1] == "$" && s != "crate"));
            let starts = ["crate", "super", "self"].contains(&s) || children.contains(&s);
            if after_path || !starts || t.get(i + 1).is_none_or(|n| n != "::") {
                i += 1;
                continue;
            }
            let mut found = Vec::new();
            paths(&t, &mut i, Vec::new(), &mut found);
            for segments in found {
                let mut abs = match segments[0].as_str() {
                    "crate" => Vec::new(),
                    "self" => module.clone(),
                    "super" => module[..module.len().saturating_sub(1)].to_vec(),
                    _ => module.clone(),
                };
                let mut rest = &segments[1..];
                if !["crate", "self", "super"].contains(&segments[0].as_str()) {
                    rest = &segments[..];
                }
                while rest.first().is_some_and(|s| s == "super") {
                    abs.pop();
                    rest = &rest[1..];
                }
                abs.extend(rest.iter().cloned());
                let Some(target) = (0..=abs.len()).rev().find_map(|n| file_of(&abs[..n]).map(|p| (n, p))) else {
                    continue;
                };
                let descendant = target.0 > module.len() && abs.starts_with(module);
                if target.1 == *path || descendant {
                    continue;
                }
                edges.entry(target.1).or_insert_with(|| segments.join("::"));
            }
        }
        graph.insert(path.clone(), edges);
    }
    graph
}

/// No two files of `src/` import from each other, nor does any longer chain of imports come
/// back to where it started: every file can be read knowing only the files it imports.
#[test]
fn no_circle_of_imports_among_files() {
    let graph = imports();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = |p: &std::path::PathBuf| p.strip_prefix(root).unwrap().display().to_string();
    let mut circles = Vec::new();
    for (a, edges) in &graph {
        for (b, via) in edges {
            if let Some(back) = graph.get(b).and_then(|e| e.get(a)) {
                if a < b {
                    circles.push(format!("{} ({via}) <-> {} ({back})", name(a), name(b)));
                }
            }
        }
    }
    // Longer circles: a file reached again from itself through three files or more.
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((file, trail)) = stack.pop() {
            for next in graph.get(&file).into_iter().flat_map(|e| e.keys()) {
                if next == start && trail.len() > 2 {
                    let names: Vec<String> = trail.iter().chain([start]).map(name).collect();
                    circles.push(names.join(" -> "));
                } else if next > start && seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(circles.is_empty(), "files importing each other:\n{}", circles.join("\n"));
}

/// A kernel's entry point is spelt once, in `gpu::entry` (listed per file by the shader
/// table): no other code of the library names one in a string literal, so renaming or removing
/// a kernel breaks the build where it is launched, not a run.
#[test]
fn no_kernel_entry_point_is_a_string_literal_outside_the_shader_table() {
    use adclr_wgpu::gpu::kernels::SHADER_FILES;
    let entries: std::collections::BTreeSet<&str> =
        SHADER_FILES.iter().flat_map(|f| f.entries.iter().copied()).collect();
    let files: std::collections::BTreeSet<&str> = SHADER_FILES.iter().map(|f| f.name).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    sources(&root.join("src"), None, &mut all);
    let table = [root.join("src/gpu/entry.rs")];
    let mut found = Vec::new();
    for (_, path) in all.iter().filter(|(_, p)| !table.contains(p)) {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Calls that take a kernel: a literal there names an entry point (file names and
            // the labels of shape errors are other strings that may coincide with one).
            for call in ["dispatch(", ".has(", ".get(", "missing("] {
                for piece in line.split(call).skip(1) {
                    let literal = piece.trim_start().strip_prefix('"').and_then(|r| r.split('"').next());
                    if let Some(name) = literal.filter(|n| entries.contains(n)) {
                        found.push(format!("{}:{}: {name}", path.strip_prefix(root).unwrap().display(), n + 1));
                    }
                }
            }
            // Any other literal that is an entry point and no file's name, outside the labels of
            // shape errors.
            let label = ["expect_len(", "check(", "shape_error("].iter().any(|c| line.contains(c));
            for name in line.split('"').skip(1).step_by(2) {
                if entries.contains(name) && !files.contains(name) && !label {
                    found.push(format!("{}:{}: {name}", path.strip_prefix(root).unwrap().display(), n + 1));
                }
            }
        }
    }
    found.dedup();
    assert!(found.is_empty(), "entry points spelt outside gpu::entry (use gpu::entry::NAME):\n{}", found.join("\n"));
}
