#!/bin/bash
# The one prepared script for the NVIDIA machine: JSON lines on stdout and in
# $OUT/gpu-check.jsonl, section by section, each under its own time limit.
#   info   the adapters and the chosen one
#   tests  every test binary that opens a device (kernels against the CPU reference, the whole
#          step, checkpoints, features, eval, train), all at once, on this adapter
#   speed  scripts/gpu-measure.sh: tune, kernels up to 4096^3, steps of tiny b256, vit-s16 b64 and
#          vit-b16 b64 (Q 10) with planned and allocated memory; kernels and vit-s16 with each GPU
#          matmul (128x128 tiles, register blocks) and with the shared-memory attention
#   minimal the tests again under --limits minimal (issue 15), the limits info reports then,
#          vit-s16 steps at batch 8 and 64 under those limits
#   split  (only when SECTIONS names it) vit-s16 b64 trained under --limits minimal (micro-batches
#          for the binding limit) and with the adapter's limits, 5 steps each
#   learn  (only when SECTIONS names it) ADCLR (lambda 0.5) and DINO (lambda 0) side by side on the full Fashion-MNIST for
#          LEARN_S seconds of training (steps sized from a short measured run), teacher k-NN on
#          the 10,000 test images with the 60,000 training images as the bank, and the
#          random-init floor of the same backbone (seeds 0 and 1)
#   recipe (only when SECTIONS names it; needs Fashion-MNIST staged, see gpu-stage.sh's
#          STAGE_DATA) the laptop recipe (assets/laptop-fashion-mnist.toml, 2,500 steps) for lambda 0.5
#          (ADCLR) and 0 (DINO) x seeds 0 and 1, all four at once, k-NN of the teacher every 500
#          steps (60,000-image bank, 10,000 queries) with the floor of each run's own init
#   grid   (only when SECTIONS names it; needs Fashion-MNIST staged) the ablation grids GRIDS
#          (default assets/ablation-laptop.toml) through `ablate`: one process per grid and seed,
#          all at once, each cell trained, then evaluated by k-NN, linear probe and eval dense;
#          then each whole grid once more, which skips the cells done, adds the random-init floors
#          and writes results.md. GRID_S limits each process's seconds. Back come every cell's
#          result.json (JSON lines), results.md/png and the cells' exported teacher backbones.
#   claims (only when SECTIONS names it; needs Fashion-MNIST staged) the seed-paired grid
#          CLAIMS_GRID (default assets/ablation-laptop-claims.toml) through `ablate --jobs
#          CLAIMS_JOBS` (default 4), starting from the grid's committed record (the cells recorded
#          there are skipped) and interrupted after CLAIMS_S seconds (default 480; an interrupted
#          cell is not recorded). Back comes what the run added to the record as
#          claims-record.tar.gz: here, `tar -xzf claims-record.tar.gz -C measurements/` and commit. SMALL=1 starts from an empty
#          record with 2-step cells on the embedded subset (do not unpack that one).
#   page   the page's default run natively (`adclr-wgpu session --settings page`: the laptop
#          recipe on the embedded subset under WebGPU's default limits, the rule's kernels) for
#          PAGE_STEPS steps (default 300; SMALL=1: 3), k-NN (bank 2,000, 500 queries, and its
#          floor) only at the end: its steps per second, and the section's seconds beside them,
#          size the page's 2,000-step run on this GPU (docs/measurements.md, "The page's default
#          run").
# Default sections: info tests minimal speed page (about 2.5 min on an H200).
# Here:   STAGE_DATA=0 bash scripts/gpu-stage.sh        (builds and fills .gpu/; with the data
#         for learn/recipe, leave the test binaries out to stay under the 64 MiB carry limit)
# There:  bash scripts/gpu-check.sh                     (carry .gpu)
# Try on lavapipe first:  SMALL=1 bash scripts/gpu-check.sh   (short settings, same code paths)
# RECIPE_SEEDS, RECIPE_STEPS and RECIPE_S (seconds of training before Ctrl-C) size the recipe section.
# SECTIONS="tests learn" runs a subset (for a rerun); LEARN_S sets the training seconds,
# LAMBDAS the trainings run side by side ("0.5 0"), FLOOR_SEEDS the random-init floors ("0 1"),
# LEARN_STEPS a fixed number of training steps instead of sizing them from a measured run.
set -uo pipefail
cd "$(dirname "$0")/.."
# Mesa's and NVIDIA's window-system probing complain without it (no display is used).
[ -n "${XDG_RUNTIME_DIR:-}" ] || export XDG_RUNTIME_DIR=$(mktemp -d)
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT/logs"
small=${SMALL:-0}
sections=${SECTIONS:-info tests minimal speed page}
log="$OUT/gpu-check.jsonl"
emit() { echo "$1" | tee -a "$log"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
json_str() { printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# Binaries: staged (gzipped) ones from .gpu/bin.
[ -d .gpu/bin ] || { echo "no .gpu/bin: run scripts/gpu-stage.sh here and carry .gpu" >&2; exit 1; }
mkdir -p /tmp/adclr-bin
for f in .gpu/bin/*.gz; do
    b=/tmp/adclr-bin/$(basename "$f" .gz)
    gzip -dc "$f" >"$b" && chmod +x "$b"
done
bin=/tmp/adclr-bin/adclr-wgpu
cp .gpu/run.sh .gpu/libvulkan.so.1 /tmp/adclr-bin/
# The NVIDIA Vulkan driver (libGLX_nvidia) needs glvnd's libraries, which the machine lacks:
# unpack the Debian packages gpu-stage.sh downloaded.
if [ -d .gpu/gl ] && [ "$small" != 1 ]; then
    for f in .gpu/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
# The NVIDIA ICD sometimes lives outside the loader's search path.
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nv_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    export VK_DRIVER_FILES=$nv_icd
fi
# Fashion-MNIST where `--data fashion-mnist` looks for it.
data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/t10k-labels-idx1-ubyte.gz" ] && [ -d .gpu/data ]; then
    mkdir -p "$data" && cp .gpu/data/*.gz "$data/"
fi
# The train tests run the binary where cargo built it here (CARGO_BIN_EXE_adclr-wgpu).
exe_path=$(cat .gpu/bin-path 2>/dev/null)
if [ -n "$exe_path" ] && [ ! -e "$exe_path" ]; then
    mkdir -p "$(dirname "$exe_path")" && ln -s /tmp/adclr-bin/adclr-wgpu "$exe_path"
fi
# Tests must not see a tuning cache; the tune section writes one that speed and learn then use.
export ADCLR_TUNING_FILE=$OUT/logs/kernel-tuning.json
rm -f "$ADCLR_TUNING_FILE"

section_info() {
    local info
    info=$(timeout -k 5 60 bash /tmp/adclr-bin/run.sh "$bin" info | tr -d '\n' | tr -s ' ')
    # No NVIDIA adapter chosen: point the loader at the driver's ICD and look again.
    if [ "$small" != 1 ] && ! echo "$info" | grep -q NVIDIA && [ -f "$nv_icd" ]; then
        export VK_DRIVER_FILES=$nv_icd
        info=$(timeout -k 5 60 bash /tmp/adclr-bin/run.sh "$bin" info | tr -d '\n' | tr -s ' ')
    fi
    emit "{\"section\":\"info\",\"info\":${info:-null}}"
    command -v nvidia-smi >/dev/null &&
        emit "{\"section\":\"info\",\"nvidia_smi\":\"$(json_str "$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader)")\"}"
}

# Every test binary at once, each with its own log; one JSON line per binary.
section_tests() {
    local limit=${TESTS_S:-150} filter=${TEST_FILTER:-} tag=${1:-tests} pids=() names=()
    [ "$small" = 1 ] && filter=${TEST_FILTER:-matmul attention}
    for t in /tmp/adclr-bin/test-*; do
        local name=${t##*/test-}
        [ "$small" = 1 ] && [ "$name" != gpu ] && continue
        (
            start=$(now)
            # shellcheck disable=SC2086
            timeout -k 5 "$limit" bash /tmp/adclr-bin/run.sh "$t" $filter >"$OUT/logs/$tag-$name.log" 2>&1
            rc=$?
            l="$OUT/logs/$tag-$name.log"
            sum=$(grep -E '^test result:' "$l" | tail -1)
            num() { local n; n=$(echo "$sum" | sed -n "s/.* \([0-9]*\) $1.*/\1/p"); echo "${n:-0}"; }
            failures=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$l" | tr '\n' ' ')
            first_panic=$(grep -m1 -A2 'panicked at' "$l" | tr '\n' ' ' | cut -c1-600)
            emit "{\"section\":\"$tag\",\"binary\":\"$name\",\"rc\":$rc,\"passed\":$(num passed),\"failed\":$(num failed),\"ignored\":$(num ignored),\"seconds\":$(since "$start"),\"failures\":\"$(json_str "$failures")\",\"first_panic\":\"$(json_str "$first_panic")\"}"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}

# Issue 15: the same test binaries with the device opened under wgpu's default limits (8 storage
# buffers per stage, 16 KiB workgroup memory, 128 MiB bindings, no subgroups or timestamps),
# what that device reports, and a vit-s16 step at batch 8 (fits) and 64 (over one binding).
section_minimal() {
    ADCLR_LIMITS=minimal section_tests minimal
    local info
    info=$(timeout -k 5 60 bash /tmp/adclr-bin/run.sh "$bin" info --limits minimal | tr -d '\n' | tr -s ' ')
    emit "{\"section\":\"minimal\",\"info\":${info:-null}}"
    local preset=vit-s16 batches="8 64"
    [ "$small" = 1 ] && preset=tiny batches=4
    for b in $batches; do
        r=$(timeout -k 5 120 bash /tmp/adclr-bin/run.sh "$bin" bench --preset "$preset" --batch "$b" --queries 10 --local-crops 0 --steps 3 --limits minimal 2>"$OUT/logs/minimal-bench-$b.stderr")
        emit "{\"section\":\"minimal\",\"batch\":$b,\"rc\":$?,\"result\":${r:-null},\"stderr_tail\":\"$(json_str "$(tail -c 600 "$OUT/logs/minimal-bench-$b.stderr")")\"}"
    done
}

# Issue 15: vit-s16 at batch 64 trained under --limits minimal, where its activations pass the
# 128 MiB binding limit and `train` runs the batch in micro-batches, beside the same training
# with the adapter's limits (the whole batch at once): 5 steps each, embedded data.
section_split() {
    local preset=vit-s16 batch=64 extra=()
    [ "$small" = 1 ] && preset=tiny batch=8 extra=(--micro-batch 4)
    for lim in minimal adapter; do
        local d="$OUT/logs/split-$lim" more=()
        [ "$lim" = minimal ] && more=("${extra[@]}")
        timeout -k 5 300 bash /tmp/adclr-bin/run.sh "$bin" train --preset "$preset" --batch "$batch" --limits "$lim" \
            --max-steps 6 --stop-after 5 --log-every 1 --eval-every 0 "${more[@]}" --out "$d" >"$OUT/logs/split-$lim.log" 2>&1
        rc=$?
        emit "{\"section\":\"split\",\"limits\":\"$lim\",\"rc\":$rc,\"said\":\"$(json_str "$(grep -m1 -E 'micro-batches|^error' "$OUT/logs/split-$lim.log")")\",\"last_metrics\":$(last_metrics "$d")}"
    done
}

section_speed() {
    CMD_S=${CMD_S:-120} bash scripts/gpu-measure.sh "$bin" 2> >(tee "$OUT/logs/speed.stderr" >&2) |
        while IFS= read -r line; do emit "{\"section\":\"speed\",\"result\":$line}"; done
}

# Last JSON object of a run's metrics.jsonl.
last_metrics() { if [ -s "$1/metrics.jsonl" ]; then tail -n 1 "$1/metrics.jsonl"; else echo null; fi; }

section_learn() {
    local learn_s=${LEARN_S:-90} calib_s=${CALIB_S:-20} batch=256 ds=fashion-mnist k=1024 shrink=()
    if [ "$small" = 1 ]; then
        # lavapipe: the same steps on a model small enough to finish (the floor stays tiny's).
        learn_s=${LEARN_S:-15} calib_s=${CALIB_S:-40} batch=8 ds=embedded k=256
        shrink=(--dim 48 --heads 2 --depth 2 --head-hidden 128 --head-bottleneck 64)
    fi
    # The recipe: tiny backbone (32 px, patch 4, D 192, depth 6, 3 heads), K 1024, 2 local
    # crops, Q 10, teacher temperature held at 0.04, teacher momentum 0.98 -> 1 (a short run
    # still moves the teacher), lr 0.001 x batch/256 after 0.3 epochs of warm-up.
    local recipe=(--data "$ds" --preset tiny --out-dim "$k" --batch "$batch" --lr 0.001 --min-lr 1e-5
        --warmup-epochs 0.3 --momentum-teacher 0.98 --teacher-temp 0.04 --warmup-teacher-temp 0.04
        --warmup-teacher-temp-epochs 0 --freeze-last-layer 0 --queries 10 --local-crops 2
        --epochs 1000 --checkpoint-every 0 --workers 7 --seed 0 "${shrink[@]}")
    local runs=/tmp/adclr-runs
    rm -rf "$runs"
    mkdir -p "$runs"
    # The kernels this adapter runs fastest (the speed section measures them; alone, learn
    # measures them here: untuned GPUs run the built-in rule).
    local tune_rows=12544
    [ "$small" = 1 ] && tune_rows=64
    [ -f "$ADCLR_TUNING_FILE" ] ||
        timeout -k 5 120 bash /tmp/adclr-bin/run.sh "$bin" tune --rows "$tune_rows" --repeats 3 >/dev/null 2>&1
    # The random-init floor, beside the training (it uses little of the GPU).
    local floor=() calib=()
    for seed in ${FLOOR_SEEDS-0 1}; do
        (
            start=$(now)
            r=$(timeout -k 5 $((learn_s + 2 * calib_s + 120)) bash /tmp/adclr-bin/run.sh "$bin" eval knn --random-init --preset tiny --data "$ds" --seed "$seed" 2>"$OUT/logs/floor-$seed.stderr" | tail -n 1)
            emit "{\"section\":\"learn\",\"run\":\"random-init seed $seed\",\"knn\":${r:-null},\"seconds\":$(since "$start")}"
        ) &
        floor+=($!)
    done
    # Measured speed of both trainings side by side: interrupt after calib_s, read images/s.
    [ -n "${LEARN_STEPS:-}" ] && calib_s=0
    for lambda in $([ "$calib_s" -gt 0 ] && echo "${LAMBDAS:-0.5 0}"); do
        timeout -s INT -k 20 "$calib_s" bash /tmp/adclr-bin/run.sh "$bin" train "${recipe[@]}" --lambda "$lambda" \
            --max-steps 100000 --log-every 2 --out "$runs/calib-$lambda" >"$OUT/logs/calib-$lambda.log" 2>&1 &
        calib+=($!)
    done
    [ ${#calib[@]} -eq 0 ] || wait "${calib[@]}"
    local ips
    ips=$(for lambda in ${LAMBDAS:-0.5 0}; do last_metrics "$runs/calib-$lambda"; done |
        sed -n 's/.*"images_per_s":\([0-9.e+-]*\).*/\1/p' | sort -g | head -n 1)
    local steps
    steps=${LEARN_STEPS:-$(awk -v ips="${ips:-0}" -v s="$learn_s" -v b="$batch" 'BEGIN { n = int(ips * s / b); print (n < 20 ? 20 : n) }')}
    emit "{\"section\":\"learn\",\"calibration_images_per_s\":${ips:-null},\"steps\":$steps,\"batch\":$batch,\"data\":\"$ds\",\"recipe\":\"$(json_str "${recipe[*]}")\"}"
    local tpids=()
    for lambda in ${LAMBDAS:-0.5 0}; do
        (
            start=$(now)
            timeout -s INT -k 30 $((learn_s * 2 + 120)) bash /tmp/adclr-bin/run.sh "$bin" train "${recipe[@]}" --lambda "$lambda" \
                --max-steps "$steps" --log-every 10 --out "$runs/lambda-$lambda" >"$OUT/logs/train-$lambda.log" 2>&1
            rc=$?
            knn=$(sed -n 's/^k-NN (k 20) on the test split: top-1 \([0-9.]*\)%, top-5 \([0-9.]*\)% (\([0-9]*\) queries, bank \([0-9]*\)).*/{"top1":\1,"top5":\2,"queries":\3,"bank":\4}/p' "$OUT/logs/train-$lambda.log")
            ckpt=$runs/lambda-$lambda/checkpoint.safetensors
            if [ -z "$knn" ] && [ -f "$ckpt" ]; then # cut short: evaluate the checkpoint it left
                knn=$(timeout -k 5 90 bash /tmp/adclr-bin/run.sh "$bin" eval knn --checkpoint "$ckpt" --data "$ds" 2>>"$OUT/logs/train-$lambda.log" | tail -n 1)
            fi
            emit "{\"section\":\"learn\",\"run\":\"lambda $lambda\",\"rc\":$rc,\"steps\":$steps,\"knn\":${knn:-null},\"seconds\":$(since "$start"),\"last_metrics\":$(last_metrics "$runs/lambda-$lambda")}"
            cp "$runs/lambda-$lambda/metrics.jsonl" "$OUT/logs/metrics-lambda-$lambda.jsonl" 2>/dev/null
            cp "$runs/lambda-$lambda/loss.png" "$OUT/logs/loss-lambda-$lambda.png" 2>/dev/null
            # The teacher backbone comes back for evaluation off the GPU machine.
            timeout 60 bash /tmp/adclr-bin/run.sh "$bin" export --checkpoint "$ckpt" \
                --out "$OUT/backbone-lambda-$lambda.safetensors" >/dev/null 2>&1
        ) &
        tpids+=($!)
    done
    wait "${tpids[@]}" ${floor[@]+"${floor[@]}"}
}

# The laptop recipe as a user runs it, ADCLR beside DINO, several seeds, all at once on the GPU.
section_recipe() {
    local steps=${RECIPE_STEPS:-2500} limit=${RECIPE_S:-220} every=500 extra=()
    if [ "$small" = 1 ]; then
        steps=${RECIPE_STEPS:-4} every=2 limit=${RECIPE_S:-200}
        extra=(--data embedded --dim 48 --heads 2 --depth 2 --out-dim 256 --head-hidden 128 --head-bottleneck 64 --batch 8 --eval-bank 64)
    fi
    local runs=/tmp/adclr-recipe pids=()
    rm -rf "$runs" && mkdir -p "$runs"
    for seed in ${RECIPE_SEEDS:-0 1}; do
        for lambda in ${LAMBDAS:-0.5 0}; do
            (
                start=$(now)
                dir=$runs/lambda-$lambda-seed-$seed
                timeout -s INT -k 30 "$limit" bash /tmp/adclr-bin/run.sh "$bin" train --config assets/laptop-fashion-mnist.toml \
                    --lambda "$lambda" --seed "$seed" --max-steps "$steps" --eval-every "$every" --workers 3 \
                    --checkpoint-every "$every" --out "$dir" "${extra[@]}" >"$OUT/logs/recipe-$lambda-$seed.log" 2>&1
                rc=$?
                # [step, teacher top-1] pairs from the k-NN lines (serde_json sorts the keys).
                knn=$(grep -h '"knn_teacher_top1"' "$dir/metrics.jsonl" 2>/dev/null | while IFS= read -r l; do
                    echo "[$(echo "$l" | sed -n 's/.*"step":\([0-9]*\).*/\1/p'),$(echo "$l" | sed -n 's/.*"knn_teacher_top1":\([0-9.]*\).*/\1/p')]"
                done | paste -sd, -)
                floor=$(grep -h '"knn_floor_top1"' "$dir/metrics.jsonl" 2>/dev/null | head -n 1 |
                    sed -n 's/.*"knn_floor_top1":\([0-9.]*\).*/\1/p')
                last=$(grep -h '^k-NN (k 20) of the teacher' "$OUT/logs/recipe-$lambda-$seed.log" | tail -n 1)
                emit "{\"section\":\"recipe\",\"lambda\":$lambda,\"seed\":$seed,\"rc\":$rc,\"steps\":$steps,\"floor_top1\":${floor:-null},\"teacher_top1_by_step\":[${knn}],\"final\":\"$(json_str "$last")\",\"seconds\":$(since "$start"),\"last_metrics\":$(last_metrics "$dir")}"
                cp "$dir/metrics.jsonl" "$OUT/logs/recipe-metrics-$lambda-$seed.jsonl" 2>/dev/null
                cp "$dir/loss.png" "$OUT/logs/recipe-loss-$lambda-$seed.png" 2>/dev/null
            ) &
            pids+=($!)
        done
    done
    wait "${pids[@]}"
}

# The ablation grids, cells in parallel (one ablate per grid and seed), then gathered.
section_grid() {
    local limit=${GRID_S:-540} root=/tmp/adclr-grid pids=()
    rm -rf "$root" && mkdir -p "$root"
    # A copy of grid $1 for seeds $2 (random-init floor $3): out under $root, the recipe by its
    # full path; with SMALL=1 a 2-step run of a small model on the embedded subset.
    copy() {
        local name=$(basename "$1" .toml)
        sed -e "s|^out = .*|out = \"$root/$name\"|" -e "s|^recipe = \"|recipe = \"$PWD/assets/|" \
            -e "s|^seeds = .*|seeds = [$2]|" -e "s|^random_init = .*|random_init = $3|" "$1"
        if [ "$small" = 1 ]; then
            printf '[base]\ndata = "embedded"\nmax_steps = 2\ndim = 48\nheads = 2\ndepth = 2\nout_dim = 256\nhead_hidden = 128\nhead_bottleneck = 64\nbatch = 8\n'
        fi
    }
    small_eval=()
    [ "$small" = 1 ] && small_eval=(-e 's|^evaluate = .*|&\nlinear_epochs = 2\nlinear_views = 0|')
    for g in ${GRIDS:-assets/ablation-laptop.toml}; do
        local name=$(basename "$g" .toml)
        for seed in ${GRID_SEEDS:-0 1}; do
            copy "$g" "$seed" false | sed "${small_eval[@]:-}" >"$root/$name-seed-$seed.toml"
            (
                start=$(now)
                timeout -s INT -k 30 "$limit" bash /tmp/adclr-bin/run.sh "$bin" ablate --grid "$root/$name-seed-$seed.toml" \
                    >"$OUT/logs/grid-$name-$seed.log" 2>&1
                emit "{\"section\":\"grid\",\"grid\":\"$name\",\"seed\":$seed,\"rc\":$?,\"seconds\":$(since "$start"),\"tail\":\"$(json_str "$(tail -c 600 "$OUT/logs/grid-$name-$seed.log")")\"}"
            ) &
            pids+=($!)
        done
    done
    wait "${pids[@]}"
    for g in ${GRIDS:-assets/ablation-laptop.toml}; do
        local name=$(basename "$g" .toml) seeds
        seeds=$(echo ${GRID_SEEDS:-0 1} | tr ' ' ',')
        copy "$g" "$seeds" true | sed "${small_eval[@]:-}" >"$root/$name.toml"
        timeout -s INT -k 30 "$limit" bash /tmp/adclr-bin/run.sh "$bin" ablate --grid "$root/$name.toml" >"$OUT/logs/grid-$name.log" 2>&1
        local rc=$?
        for r in $(find "$root/$name" -name result.json | sort); do
            local cell=${r#"$root/$name/"}
            emit "{\"section\":\"grid\",\"grid\":\"$name\",\"cell\":\"$(json_str "${cell%/result.json}")\",\"result\":$(cat "$r")}"
            [ -f "${r%result.json}checkpoint.safetensors" ] &&
                mkdir -p "$OUT/logs/grid-backbones/$name/${cell%/result.json}" &&
                bash /tmp/adclr-bin/run.sh "$bin" export --checkpoint "${r%result.json}checkpoint.safetensors" \
                    --out "$OUT/logs/grid-backbones/$name/${cell%/result.json}/backbone.safetensors" >/dev/null 2>&1
        done
        cp "$root/$name/results.md" "$OUT/logs/grid-$name-results.md" 2>/dev/null
        cp "$root/$name/results.png" "$OUT/logs/grid-$name-results.png" 2>/dev/null
        emit "{\"section\":\"grid\",\"grid\":\"$name\",\"gathered\":true,\"rc\":$rc,\"results_md\":\"$(json_str "$(tr '\n' '~' <"$root/$name/results.md" 2>/dev/null)")\"}"
    done
}

section_page() {
    local steps=${PAGE_STEPS:-300} start rc result
    [ "$small" = 1 ] && steps=3
    start=$(now)
    result=$(timeout -k 5 300 bash /tmp/adclr-bin/run.sh "$bin" session --settings page --steps "$steps" \
        --knn-every 0 2>"$OUT/logs/page-session.stderr" | tail -n 1)
    rc=$?
    # The result line holds the settings, the adapter, steps per second and the final k-NN.
    emit "{\"section\":\"page\",\"rc\":$rc,\"steps\":$steps,\"seconds\":$(since "$start"),\"result\":${result:-null},\"stderr_tail\":\"$(json_str "$(tail -c 600 "$OUT/logs/page-session.stderr")")\"}"
}

section_claims() {
    local grid=${CLAIMS_GRID:-assets/ablation-laptop-claims.toml} root=/tmp/adclr-claims record name
    record=$(sed -n 's/^record = "\(.*\)"/\1/p' "$grid")
    [ -n "$record" ] || { emit "{\"section\":\"claims\",\"error\":\"$grid has no record = line\"}"; return; }
    name=$(basename "$record")
    rm -rf "$root" && mkdir -p "$root/$name"
    [ "$small" != 1 ] && [ -d "$record" ] && cp -r "$record"/. "$root/$name/"
    local before
    before=$(find "$root/$name" -name result.json | wc -l)
    sed -e "s|^out = .*|out = \"$root/runs\"|" -e "s|^record = .*|record = \"$root/$name\"|" \
        -e "s|^recipe = \"|recipe = \"$PWD/$(dirname "$grid")/|" "$grid" >"$root/grid.toml"
    if [ "$small" = 1 ]; then
        sed -i -e 's|^max_steps = .*|max_steps = 2\ndata = "embedded"\ndim = 48\nheads = 2\ndepth = 2\nout_dim = 256\nhead_hidden = 128\nhead_bottleneck = 64\nbatch = 8|' \
            -e 's|^seeds = .*|seeds = [0, 1]|' "$root/grid.toml"
    fi
    local start rc
    start=$(now)
    timeout -s INT -k 30 "${CLAIMS_S:-480}" bash /tmp/adclr-bin/run.sh "$bin" ablate --grid "$root/grid.toml" \
        --jobs "${CLAIMS_JOBS:-4}" >"$OUT/logs/claims.log" 2>&1
    rc=$?
    for r in $(find "$root/$name" -name result.json -newer "$root/grid.toml" | sort); do
        local cell=${r#"$root/$name/"}
        emit "{\"section\":\"claims\",\"cell\":\"$(json_str "${cell%/result.json}")\",\"result\":$(cat "$r")}"
    done
    # Only what this run wrote (the committed record is there already; its backbones would put
    # the archive over the size that comes back).
    (cd "$root" && find "$name" -type f -newer grid.toml | tar -czf "$OUT/claims-record.tar.gz" -T -)
    emit "{\"section\":\"claims\",\"rc\":$rc,\"seconds\":$(since "$start"),\"recorded_before\":$before,\"recorded_after\":$(find "$root/$name" -name result.json | wc -l),\"results_md\":\"$(json_str "$(tr '\n' '~' <"$root/$name/results.md" 2>/dev/null)")\"}"
}

for s in $sections; do
    start=$(now)
    echo "== $s" >&2
    "section_$s"
    emit "{\"section\":\"$s\",\"done\":true,\"seconds\":$(since "$start")}"
done
# At most 8 files come back: the JSON lines, the backbones, and one archive of the logs.
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
