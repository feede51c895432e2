#!/usr/bin/env bash
# Builds the browser page into web/pkg (adclr_web.js, adclr_web_bg.wasm) from the adclr-web
# crate; serve web/ with any static server and open index.html (README "In a web browser").
#   scripts/web-build.sh                  optimised (cargo's release profile)
#   scripts/web-build.sh --profile NAME   another cargo profile (dev; wasm-test, as CI)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
case "${1:-}" in
    "") ;;
    --profile) profile=${2:?"--profile needs a name"} ;;
    *) echo "usage: scripts/web-build.sh [--profile NAME]" >&2; exit 2 ;;
esac
scripts/web-tools.sh
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
cargo build --locked -p adclr-web --lib --target wasm32-unknown-unknown --profile "$profile"
wasm-bindgen --target web --no-typescript --out-dir web/pkg "target/wasm32-unknown-unknown/$dir/adclr_web.wasm"
echo "web/pkg built ($profile): serve web/ (python3 -m http.server -d web 8000) and open http://localhost:8000/" >&2
