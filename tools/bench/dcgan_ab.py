#!/usr/bin/env python3
"""The DCGAN training step (batch 64) in Strata and in Keras, interleaved in
one sitting: `cargo run --example dcgan -- --bench STEPS` against
`tools/bench/keras_dcgan.py` with and without XLA (Keras's `fit` uses XLA
on the TensorFlow backend by default: `jit_compile="auto"`), the order
rotated every round; prints each run and the medians and ratios.

    cargo build --release -p strata --example dcgan
    python3 tools/bench/dcgan_ab.py [ROUNDS] [STEPS]    # needs tensorflow-cpu and keras
"""

import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def run(kind, steps):
    if kind == "strata":
        cmd = [os.path.join(ROOT, "target", "release", "examples", "dcgan"), "--bench", str(steps)]
    else:
        cmd = [sys.executable, os.path.join(ROOT, "tools", "bench", "keras_dcgan.py"), "--steps", str(steps), "--json"]
        if kind == "keras-xla":
            cmd.append("--xla")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["step_ms_median"]


def main(rounds, steps):
    kinds = ["strata", "keras", "keras-xla"]
    times = {k: [] for k in kinds}
    for r in range(rounds):
        for k in kinds[r % 3:] + kinds[:r % 3]:
            ms = run(k, steps)
            times[k].append(ms)
            print(f"round {r + 1}: {k:<10} {ms:8.1f} ms/step", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"step_ms_median": med, "keras_over_strata": med["keras"] / med["strata"], "keras_xla_over_strata": med["keras-xla"] / med["strata"]}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 20)
