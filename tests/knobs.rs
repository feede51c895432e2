//! The table of environment variables (`adclr_wgpu::knobs`) is the whole truth: `src/` reads
//! the environment only through it, every `ADCLR_*` name the code, tests and scripts use is in
//! it, and docs/commands.md lists exactly its program variables.

use adclr_wgpu::knobs::{named, KNOBS};
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn only_the_knobs_module_reads_the_environment() {
    let mut all = Vec::new();
    files(&root().join("src"), &mut all);
    let readers: Vec<String> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("env::var"))
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert_eq!(readers, vec!["src/knobs.rs"]);
}

/// The command line reads the table once (`cli::environment`) and hands typed values down:
/// nothing below it reads a variable's value, or lets wgpu read `WGPU_BACKEND` for it.
#[test]
fn only_the_command_line_reads_the_knobs_values() {
    let mut all = Vec::new();
    files(&root().join("src"), &mut all);
    let reads = ["knobs::value(", "knobs::value_os(", "knobs::non_empty(", "knobs::value)", ".with_env()"];
    let readers: Vec<String> = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.starts_with(root().join("src/cli")) && !p.ends_with("src/knobs.rs"))
        .filter(|p| {
            let code = std::fs::read_to_string(p).unwrap().replace("knobs::{self, Knob}", "knobs");
            reads.iter().any(|r| code.contains(r)) || code.contains("use crate::knobs")
        })
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(readers.is_empty(), "read the environment below the command line: {readers:?}");
}

#[test]
fn every_adclr_variable_used_anywhere_is_in_the_table() {
    let mut all = Vec::new();
    for dir in ["src", "tests", "scripts", "web/src", "web/tests", "benches", ".ci"] {
        if root().join(dir).exists() {
            files(&root().join(dir), &mut all);
        }
    }
    let mut unknown = Vec::new();
    for path in all {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for (i, _) in text.match_indices("ADCLR_") {
            let name: String =
                text[i..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit()).collect();
            if named(&name).is_none() && !name.ends_with('_') {
                unknown.push(format!("{}: {name}", path.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    unknown.dedup();
    assert!(unknown.is_empty(), "variables missing from knobs::KNOBS:\n{}", unknown.join("\n"));
}

/// The kernel families' variables are read through the table by name: each must be in it.
#[test]
fn every_kernel_family_variable_is_in_the_table() {
    use adclr_wgpu::gpu::choice::Family;
    use adclr_wgpu::gpu::{AttentionKernel, MatmulKernel, Precision, RowKernels};
    for name in [MatmulKernel::VARIABLE, Precision::VARIABLE, RowKernels::VARIABLE, AttentionKernel::VARIABLE] {
        assert!(named(name).is_some_and(|k| !k.test_only), "{name}");
    }
}

#[test]
fn the_commands_doc_lists_every_program_variable_and_no_other() {
    let doc = std::fs::read_to_string(root().join("docs/commands.md")).unwrap();
    let section = doc.split("## Environment variables").nth(1).expect("docs/commands.md: an environment section");
    let section = section.split("\n## ").next().unwrap();
    let listed: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.chars().take_while(|c| *c != '`' && *c != '=').collect())
        .collect();
    for k in KNOBS {
        assert_eq!(listed.contains(&k.name.to_string()), !k.test_only, "{} in docs/commands.md", k.name);
    }
    for name in &listed {
        assert!(named(name).is_some_and(|k| !k.test_only), "docs/commands.md lists {name}, not a program knob");
    }
}
