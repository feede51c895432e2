#!/usr/bin/env bash
# The browser tests, as .ci/run runs them (needs chromium and chromium-driver: Debian packages):
#  1. the native run of the browser test's settings on this machine (tests/session.rs), whose
#     record the browser test compares against;
#  2. web/tests/browser in headless Chromium (WebGPU on SwiftShader, shaders through Tint):
#     kernel families against the CPU reference, every shader file, the two training steps;
#  3. the page itself (web/index.html), driven by chromedriver through a short run, with a
#     screenshot in target/web-page.png.
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
ADCLR_WEB_REFERENCE="$reference" cargo test --locked -p adclr-web --target wasm32-unknown-unknown \
    --profile "$profile" --test browser -- --nocapture

scripts/web-build.sh --profile "$profile"
python3 scripts/web-page-check.py --screenshot target/web-page.png --query "settings=small-test&steps=20&knn_bank=500"
