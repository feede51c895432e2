#!/usr/bin/env bash
# The browser tests, as .ci/run runs them (needs chromium and chromium-driver: Debian packages):
#  1. the native run of the browser test's settings on this machine (tests/session.rs), whose
#     record the browser test compares against;
#  2. web/tests/browser in headless Chromium (WebGPU on SwiftShader, shaders through Tint):
#     kernel families against the CPU reference, every shader file, the two training steps
#     (its build lints the library and the web crate for wasm32 with clippy);
#  3. the page itself (web/index.html), driven by chromedriver through a short run, with a
#     screenshot in target/web-page.png; the teacher backbone behind its download link is then
#     loaded natively by `export` and `eval knn`; then a run on a folder of images the check
#     writes and chooses in the page's folder picker (target/web-page-own-images.png).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "web-test: $tool is missing (apt-get install chromium chromium-driver)" >&2; exit 1; }
done
scripts/web-tools.sh
# One wasm build serves the tests and the page (the same profile shares the artifacts).
profile=wasm-test

cargo test --locked --test session small_test_trains_repeats_and_leaves_the_browser_reference
reference="$PWD/target/tmp/web-reference.json"

export CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900}
# The wasm32 build is also the lint: clippy-driver compiles the workspace's crates (the library,
# the web crate and its tests) with warnings denied, as `cargo clippy --all-targets -- -D
# warnings` would, without a second, check-only build of every dependency for wasm32 (2.5 min
# on 2 cores). Registry crates get --cap-lints allow from cargo, so only ours are linted.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
wasm_lint=(env RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-D warnings")
"${wasm_lint[@]}" ADCLR_WEB_REFERENCE="$reference" cargo test --locked -p adclr-web --target wasm32-unknown-unknown \
    --profile "$profile" --test browser -- --nocapture

"${wasm_lint[@]}" scripts/web-build.sh --profile "$profile"
python3 scripts/web-page-check.py --screenshot target/web-page.png --query "settings=small-test&steps=20&knn_bank=500&knn_every=10" \
    --backbone-out target/web-backbone.safetensors
python3 scripts/web-page-check.py --own-images --screenshot target/web-page-own-images.png \
    --query "settings=small-test&steps=3&knn_bank=200"
# The page's download, loaded natively: `export` (timm's file) and `eval knn` read it.
cargo run --locked --quiet -- export --checkpoint target/web-backbone.safetensors --out target/web-backbone-export.safetensors
cargo run --locked --quiet -- eval knn --checkpoint target/web-backbone.safetensors
