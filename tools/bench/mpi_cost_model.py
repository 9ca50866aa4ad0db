#!/usr/bin/env python3
"""Scaling efficiency of data-parallel training on N machines, on paper.

Each machine trains a per-machine batch in `compute_ms` (measured here with
`strata train --batch-size B --json`), then the ranks sum the gradients. Strata's sum
(`all_reduce_sum`: an all-to-all of slices, then an all-gather) moves what a
ring all-reduce moves: each machine sends and receives 2 (N-1)/N of the
gradient bytes, in 2 (N-1) steps of `latency_us` each. Strata does not
overlap the sum with the backward pass, so

    efficiency = compute / (compute + 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency)

    python3 tools/bench/mpi_cost_model.py --name "headline CNN" --params 60554 --compute-ms 6.1
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--params", type=int, required=True, help="trainable parameters (float32 gradients)")
p.add_argument("--compute-ms", type=float, required=True, help="one machine's time per step")
p.add_argument("--latency-us", type=float, default=20.0, help="per message step (TCP on Ethernet: 10-50)")
a = p.parse_args()

grad_bytes = a.params * 4
print(f"{a.name}: {grad_bytes / 1e6:.2f} MB of gradients per step, {a.compute_ms:.2f} ms of compute per step, {a.latency_us:.0f} us per message step")
print("| machines | " + " | ".join(f"{g} Gb/s" for g in (10, 25, 100)) + " |")
print("| --- | --- | --- | --- |")
for n in (2, 4, 8, 16, 32, 64):
    cells = []
    for gbps in (10, 25, 100):
        transfer = 2 * (n - 1) / n * grad_bytes / (gbps * 1e9 / 8) * 1e3
        latency = 2 * (n - 1) * a.latency_us * 1e-3
        cells.append(f"{100 * a.compute_ms / (a.compute_ms + transfer + latency):.0f}%")
    print(f"| {n} | " + " | ".join(cells) + " |")
