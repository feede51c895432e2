#!/bin/bash
# Every performance figure issue 6 asks for, as JSON lines on stdout: adapter info, the matmul
# tuning (its choice is then used by the benches), kernels (matmul 1024^3 and 4096^3, ViT-S
# qkv, attention), and training steps of tiny b256, vit-s16 b64 and vit-b16 b64 (2 global
# views, Q = 10, synthetic data). On the GPU machine, after ../shared/gpu/stage.sh here:
#     bash scripts/gpu-measure.sh .gpu/adclr-wgpu            (carry .gpu)
# Try it on lavapipe first with small settings:  SMALL=1 bash scripts/gpu-measure.sh target/release/adclr-wgpu
set -uo pipefail
bin=${1:?usage: gpu-measure.sh PATH/TO/adclr-wgpu}
here=$(cd "$(dirname "$bin")" && pwd)
# Each command under its own limit (CMD_S seconds), so one slow or hung case cannot take the rest.
run() {
    if [ -f "$here/run.sh" ]; then set -- bash "$here/run.sh" "$@"; fi
    timeout -k 5 "${CMD_S:-300}" "$@" || echo "{\"failed\":\"$*\",\"rc\":$?}"
}
export ADCLR_TUNING_FILE="${ADCLR_TUNING_FILE:-$here/kernel-tuning.json}"
if [ "${SMALL:-0}" = 1 ]; then
    tune_rows=64; max_mm=1024; steps=1
    configs=("tiny 4" "tiny 8")
else
    tune_rows=12544; max_mm=4096; steps=8
    configs=("tiny 256" "vit-s16 64" "vit-b16 64")
fi
step() { echo "== $*" >&2; }
step info;   run "$bin" info | tr -d '\n' | tr -s ' '; echo
step tune;   run "$bin" tune --rows "$tune_rows" --repeats 3
step kernels; run "$bin" bench --kernels --max-matmul "$max_mm" --repeats 5 --steps 1 --batch 2 --local-crops 0
for c in "${configs[@]}"; do
    set -- $c
    step "step $1 batch $2"
    run "$bin" bench --preset "$1" --batch "$2" --queries 10 --local-crops 0 --steps "$steps"
done
# Whatever tune chose, each GPU matmul alone (the 128x128 tiles and the register blocks) on
# the kernels and the vit-s16 step, and the step with the one-invocation-per-row
# shared-memory attention instead of the quad kernels, for comparison.
if [ "${COMPARE:-1}" = 1 ]; then
    compare_cfg=(--preset vit-s16 --batch 64); [ "${SMALL:-0}" = 1 ] && compare_cfg=(--preset tiny --batch 4)
    for mm in tiles blocked; do
        step "kernels with ADCLR_MATMUL=$mm"
        ADCLR_MATMUL=$mm run "$bin" bench --kernels --max-matmul "$max_mm" --repeats 5 --steps 1 --batch 2 --local-crops 0
        step "${compare_cfg[*]} with ADCLR_MATMUL=$mm"
        ADCLR_MATMUL=$mm run "$bin" bench "${compare_cfg[@]}" --queries 10 --local-crops 0 --steps 3
    done
    # f16-mixed (operands rounded to f16, f32 accumulation): on the cooperative matrices where
    # the adapter lists them (candidates: asked for by name, matmul and attention), and on the
    # f16 SIMT tiles with the f16 quad attention (what --precision f16-mixed runs by default).
    for mm in coop tiles; do
        att=quad
        [ "$mm" = coop ] && att=coop
        step "kernels with ADCLR_PRECISION=f16-mixed ADCLR_MATMUL=$mm ADCLR_ATTENTION=$att"
        ADCLR_PRECISION=f16-mixed ADCLR_MATMUL=$mm ADCLR_ATTENTION=$att run "$bin" bench --kernels --max-matmul "$max_mm" --repeats 5 --steps 1 --batch 2 --local-crops 0
        step "${compare_cfg[*]} with ADCLR_PRECISION=f16-mixed ADCLR_MATMUL=$mm ADCLR_ATTENTION=$att"
        ADCLR_PRECISION=f16-mixed ADCLR_MATMUL=$mm ADCLR_ATTENTION=$att run "$bin" bench "${compare_cfg[@]}" --queries 10 --local-crops 0 --steps 3
    done
    step "${compare_cfg[*]} with ADCLR_ATTENTION=tiled"
    ADCLR_ATTENTION=tiled run "$bin" bench "${compare_cfg[@]}" --queries 10 --local-crops 0 --steps 3
fi
