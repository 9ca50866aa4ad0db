#!/bin/bash
# Training speed on a busy machine: the headline CNN (`strata train`, 3 epochs
# of 8,000 samples) quiet, beside a program spinning on one core, and beside
# it with the busy-machine fallback off (STRATA_ADAPTIVE_THREADS=0);
# interleaved rounds, medians. A second binary (an earlier build) is measured
# in the same rounds when given.
#
#   tools/bench/busy_machine.sh [ROUNDS] [BASELINE_STRATA]
set -euo pipefail
rounds=${1:-5}
base=${2:-}
new=${STRATA_BIN:-target/release/strata}
[ -x "$new" ] || cargo build --release -p strata-cli
log=$(mktemp)

speed() { # binary, "hog" or "quiet", extra environment
    local hog=""
    if [ "$2" = hog ]; then sh -c 'while :; do :; done' & hog=$!; fi
    env ${3:-} "$1" train --epochs 3 --train-limit 8000 --json 2>/dev/null | tail -1 |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["samples_per_second"])'
    if [ -n "$hog" ]; then kill "$hog"; wait "$hog" 2>/dev/null || true; fi
}

for r in $(seq "$rounds"); do
    echo "quiet $(speed "$new" quiet)" | tee -a "$log"
    echo "busy $(speed "$new" hog)" | tee -a "$log"
    echo "busy-fallback-off $(speed "$new" hog STRATA_ADAPTIVE_THREADS=0)" | tee -a "$log"
    if [ -n "$base" ]; then
        echo "baseline-quiet $(speed "$base" quiet)" | tee -a "$log"
        echo "baseline-busy $(speed "$base" hog)" | tee -a "$log"
    fi
done
python3 - "$log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, value = line.split()
    runs[name].append(float(value))
for name, values in runs.items():
    print(f"{name:20} median {statistics.median(values):8.0f} samples/s  (range {min(values):.0f}-{max(values):.0f}, {len(values)} runs)")
PY
rm -f "$log"
