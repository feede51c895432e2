#!/bin/bash
# Fills .gpu/ with everything scripts/gpu-check.sh needs on the GPU machine, which has no Rust
# toolchain and no Vulkan loader: the release binary and every test binary that opens a device
# (stripped, gzipped), the Vulkan loader and run.sh (../shared/gpu/stage.sh), glvnd's Debian
# packages, and Debian's Fashion-MNIST IDX files for the learning run. What travels is limited
# to 64 MiB; this prints the total (about 60 MB).
# Usage, from anywhere in the project:  bash scripts/gpu-stage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash ../shared/gpu/stage.sh
rm -rf .gpu/bin .gpu/data .gpu/gl
mkdir -p .gpu/bin .gpu/data
strip -o .gpu/bin/adclr-wgpu .gpu/adclr-wgpu && rm .gpu/adclr-wgpu
# Test binaries that open a device (reference_gradcheck and shaders_validate are CPU-only).
cargo test --release --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\/deps\/[^"]*\)".*/\1/p' |
    while read -r exe; do
        name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
        case "$name" in
            reference_gradcheck | shaders_validate) continue ;;
            adclr_wgpu) name="unit-$(basename "$exe" | sed 's/.*-//' | cut -c1-6)" ;;
        esac
        strip -o ".gpu/bin/test-$name" "$exe"
    done
for f in .gpu/bin/*; do gzip -9 -f "$f"; done
# Where the train tests expect the binary (CARGO_BIN_EXE_adclr-wgpu, compiled in).
echo "$(pwd)/target/release/adclr-wgpu" >.gpu/bin-path
# The NVIDIA Vulkan driver there needs glvnd's libraries, which that machine lacks: Debian's
# packages, unpacked there by gpu-check.sh.
mkdir -p .gpu/gl /tmp/amd64/partial
apt_arch=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
apt-get "${apt_arch[@]}" update -qq
(cd .gpu/gl && apt-get "${apt_arch[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
# Fashion-MNIST only for the learn and recipe sections (STAGE_DATA=0 leaves it out: with every
# test binary staged, the data puts .gpu over the 64 MiB carry limit).
data=/usr/share/datasets/fashion-mnist
if [ "${STAGE_DATA:-1}" = 1 ]; then
    [ -f "$data/train-images-idx3-ubyte.gz" ] || {
        echo "$data missing: apt-get install -y dataset-fashion-mnist" >&2
        exit 1
    }
    cp "$data"/*-ubyte.gz .gpu/data/
fi
ls -l .gpu/bin .gpu/data
du -sb .gpu | awk '{printf "%.1f MB staged in .gpu (limit with the working tree: 64 MiB)\n", $1 / 1e6;
    if ($1 > 60 * 1048576) print "over or near the carry limit: STAGE_DATA=0 leaves Fashion-MNIST out (needed only by learn and recipe)"}'
