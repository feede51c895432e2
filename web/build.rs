//! The browser test's reference: the record the native run of the same settings wrote
//! (tests/session.rs, into target/tmp/web-reference.json), at the path in ADCLR_WEB_REFERENCE,
//! copied into OUT_DIR for `include_str!` (empty when unset: the test then fails saying how to
//! produce it; scripts/web-test.sh does).

fn main() {
    println!("cargo:rerun-if-env-changed=ADCLR_WEB_REFERENCE");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let text = match std::env::var_os("ADCLR_WEB_REFERENCE") {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", std::path::Path::new(&path).display());
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("ADCLR_WEB_REFERENCE={}: cannot read: {e}", path.to_string_lossy()))
        }
        None => String::new(),
    };
    std::fs::write(out.join("reference.json"), text).expect("OUT_DIR is writable");
}
