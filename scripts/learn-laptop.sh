#!/usr/bin/env bash
# The laptop recipe's learning run with its evidence: trains assets/laptop-fashion-mnist.toml
# (or $RECIPE), keeps a copy of every checkpoint as it is written, then evaluates k-NN
# (10,000 test queries, 60,000-image bank) of the final teacher, of random-init floors of the
# same model ($FLOOR_SEEDS) and of the kept snapshots ($CURVE_STEPS), one JSON line each in
# $RUN/knn.jsonl. Needs Debian's dataset-fashion-mnist. Usage:
#   bash scripts/learn-laptop.sh                 # ~70 min of training + ~3 min per k-NN on 2 CPU cores
#   RUN=runs/x EXTRA="--lr 0.004" bash scripts/learn-laptop.sh
set -u
recipe=${RECIPE:-assets/laptop-fashion-mnist.toml}
run=${RUN:-runs/laptop-fashion-mnist}
bin=${BIN:-target/release/adclr-wgpu}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
mkdir -p "$run/snapshots"
# A private copy of the binary: rebuilding the tree during the run does not touch it.
cp "$bin" "$run/adclr-wgpu"
bin="$run/adclr-wgpu"
"$bin" train --config "$recipe" --out "$run" ${EXTRA:-} >"$run/train.log" 2>&1 &
train_pid=$!
keep_snapshot() {
    local step
    # the checkpoint's `step` tensor (I64) read from its safetensors header
    step=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; a,b=json.loads(f.read(n))["step"]["data_offsets"]; f.seek(8+n+a); print(struct.unpack("<q",f.read(b-a))[0])' "$run/checkpoint.safetensors" 2>/dev/null)
    if [ -n "$step" ] && [ ! -e "$run/snapshots/step-$step.safetensors" ]; then
        cp "$run/checkpoint.safetensors" "$run/snapshots/step-$step.tmp" && mv "$run/snapshots/step-$step.tmp" "$run/snapshots/step-$step.safetensors"
    fi
}
while kill -0 "$train_pid" 2>/dev/null; do
    [ -e "$run/checkpoint.safetensors" ] && keep_snapshot
    sleep 10
done
wait "$train_pid"
echo "{\"train_rc\":$?}" >>"$run/knn.jsonl"
keep_snapshot
knn() {
    local what=$1; shift
    local r
    r=$("$bin" eval knn --data fashion-mnist "$@" 2>>"$run/knn.log" | tail -n 1)
    echo "{\"what\":\"$what\",\"knn\":${r:-null}}" >>"$run/knn.jsonl"
}
knn final --checkpoint "$run/checkpoint.safetensors"
# The floor of the run's own seed comes first (its initial teacher); $FLOOR_SEEDS adds others.
run_seed=$(sed -n 's/^seed = //p' "$run/config.toml")
for seed in $run_seed ${FLOOR_SEEDS-1}; do
    knn "random-init seed $seed" --random-init --seed "$seed" --checkpoint "$run/checkpoint.safetensors"
done
for step in ${CURVE_STEPS-1250 500 2000}; do
    [ -e "$run/snapshots/step-$step.safetensors" ] && knn "step $step" --checkpoint "$run/snapshots/step-$step.safetensors"
done
# The k-NN points join metrics.jsonl (as `train --eval-every` writes them: teacher, floor of
# the run's own seed) and loss.png is redrawn with them.
python3 - "$run" <<'PY'
import json, re, sys
run = sys.argv[1]
seed = int(re.search(r'^seed = (\d+)', open(f"{run}/config.toml").read(), re.M).group(1))
rows = [json.loads(l) for l in open(f"{run}/knn.jsonl") if '"what"' in l]
floor = next((r["knn"]["top1"] for r in rows if r["what"] == f"random-init seed {seed}" and r["knn"]), None)
total = int(re.search(r'^max_steps = (\d+)', open(f"{run}/config.toml").read(), re.M).group(1))
with open(f"{run}/metrics.jsonl", "a") as out:
    if floor is not None:
        out.write(json.dumps({"step": 0, "knn_teacher_top1": floor, "knn_floor_top1": floor}) + "\n")
    for r in rows:
        m = re.fullmatch(r"step (\d+)", r["what"])
        step = int(m.group(1)) if m else (total if r["what"] == "final" else None)
        if step is not None and r["knn"]:
            out.write(json.dumps({"step": step, "knn_teacher_top1": r["knn"]["top1"], "knn_floor_top1": floor,
                                  "knn_bank": r["knn"]["bank"], "knn_queries": r["knn"]["queries"]}) + "\n")
PY
"$bin" plot "$run" >>"$run/knn.log" 2>&1
echo '{"done":true}' >>"$run/knn.jsonl"
