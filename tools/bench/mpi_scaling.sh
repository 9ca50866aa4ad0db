#!/bin/bash
# Data-parallel training on this machine: the headline CNN (or --model
# dense), global batch 64, as 1 process x 2 threads and as 2 processes x 1
# thread (mpirun), interleaved rounds; medians of samples/s and of the
# gradient all-reduce's time per step. Needs the binary built with
# `--features mpi` and OpenMPI's mpirun.
#
#   tools/bench/mpi_scaling.sh [ROUNDS] [MODEL] [BATCH]
set -euo pipefail
rounds=${1:-5}
model=${2:-headline}
batch=${3:-64}
bin=${STRATA_BIN:-target/release/strata}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
args=(train --model "$model" --epochs 3 --train-limit 6000 --batch-size "$batch" --json)
log=$(mktemp)
for r in $(seq "$rounds"); do
    STRATA_THREADS=2 "$bin" "${args[@]}" 2>/dev/null | tail -1 | sed 's/^/threads /' >> "$log"
    STRATA_THREADS=1 mpirun -np 2 "$bin" "${args[@]}" 2>/dev/null | tail -1 | sed 's/^/ranks /' >> "$log"
    tail -2 "$log" | cut -c1-80
done
python3 - "$log" "$batch" <<'PY'
import json, statistics, sys
runs = {"threads": [], "ranks": []}
for line in open(sys.argv[1]):
    kind, text = line.split(" ", 1)
    runs[kind].append(json.loads(text))
batch = int(sys.argv[2])
med = lambda xs: statistics.median(xs)
one, two = med([r["samples_per_second"] for r in runs["threads"]]), med([r["samples_per_second"] for r in runs["ranks"]])
reduce_ms = med([r["gradient_reduce_ms_per_step"] for r in runs["ranks"]])
step_ms = batch / two * 1e3
print(f"1 process x 2 threads: {one:.0f} samples/s (median of {len(runs['threads'])})")
print(f"2 processes x 1 thread: {two:.0f} samples/s ({two / one:.2f}x); step {step_ms:.2f} ms, gradient all-reduce {reduce_ms:.3f} ms ({100 * reduce_ms / step_ms:.1f}% of a step)")
PY
rm -f "$log"
