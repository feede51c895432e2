#!/usr/bin/env bash
# What building the browser page needs, installed where missing: Rust's wasm32 target and
# wasm-bindgen-cli at exactly the wasm-bindgen version of Cargo.lock (the generated JS and the
# crate must agree). scripts/web-build.sh and scripts/web-test.sh call it.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ -z "$version" ]; then
    echo "web-tools: no wasm-bindgen in Cargo.lock" >&2
    exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
    echo "web-tools: installing wasm-bindgen-cli $version (a few minutes)" >&2
    # Not --locked: the CLI's own lock names versions some registry mirrors lack. Unoptimised:
    # 1 min to build instead of 2.5 on 2 cores, and it still processes the page's wasm in 1 s.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install -q wasm-bindgen-cli --version "=$version" --no-default-features
fi
