#!/usr/bin/env bash
# Runs a command against Mesa 26's lavapipe, whose Vulkan has VK_KHR_cooperative_matrix
# (8x8x8 f16), beside Debian 12's Mesa 22 (which has none): the f16-mixed cooperative-matrix
# kernels are tested there (.ci/run). Once per machine it builds a minimal Debian trixie root
# with mesa-vulkan-drivers from trixie-backports (about 70 s and 0.5 GB; needs root and the
# Debian archive apt already uses); then the command's programs start with that root's
# dynamic loader and libraries and see its lavapipe only. Nothing of the host changes.
#   scripts/mesa26.sh cargo test --locked --test gpu -- coop     # cargo runs its tests there
#   scripts/mesa26.sh target/release/adclr-wgpu info              # or one program
set -euo pipefail
root=${MESA26_ROOT:-/var/cache/lvp26-trixie}
mirror=${MESA26_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
if [ ! -f "$root/.lvp-ready" ]; then
    [ -n "$mirror" ] || { echo "mesa26.sh: set MESA26_MIRROR to this machine's Debian archive URL" >&2; exit 1; }
    command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
    rm -rf "$root"
    debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
    echo "deb $mirror trixie-backports main" >"$root/etc/apt/sources.list.d/backports.list"
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    trap 'umount "$root/proc" "$root/dev" 2>/dev/null || true' EXIT
    chroot "$root" apt-get update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends -t trixie-backports mesa-vulkan-drivers >/dev/null
    chroot "$root" apt-get clean
    umount "$root/proc" "$root/dev"
    trap - EXIT
    touch "$root/.lvp-ready"
fi
lib=x86_64-linux-gnu
icd="$root/mesa26_icd.json"
printf '{ "file_format_version": "1.0.1", "ICD": { "library_path": "%s", "api_version": "1.4.0" } }\n' \
    "$root/usr/lib/$lib/libvulkan_lvp.so" >"$icd"
echo "mesa26.sh: Vulkan from $root/usr/lib/$lib/libvulkan_lvp.so" >&2
export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
runner="$root/lib64/ld-linux-x86-64.so.2 --library-path $root/usr/lib/$lib:$root/lib/$lib"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$runner"
if [ "${1:-}" = cargo ]; then exec "$@"; fi
# shellcheck disable=SC2086
exec $runner "$@"
