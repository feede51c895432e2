#!/usr/bin/env python3
"""Reads a run directory's TensorBoard event files with TensorBoard's own reader and prints
what it holds as JSON: {"scalars": {tag: [[step, value], ...]}, "images": {tag: [[step, width,
height], ...]}}. tests/train.rs compares it with the run's metrics.jsonl.

    python3 scripts/tensorboard-read.py runs/RUN
Needs the `tensorboard` package (pip install tensorboard); exits 3 without it."""
import json
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as e:
    print(f"tensorboard is not installed ({e}): pip install tensorboard", file=sys.stderr)
    sys.exit(3)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    # Keep every event (the default keeps a sample of long series); purge_orphaned_data (the
    # default) drops what a resumed run wrote again.
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "images": {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags["images"]},
    }
    json.dump(out, sys.stdout)


main()
