#!/usr/bin/env python3
"""Strata against Keras and PyTorch, interleaved in one sitting, as ratios.

Each round runs every framework once per benchmark, in turn, so that machine
load affects them alike; the table reports each framework's median over rounds
and Strata's ratio to it.

    python3 tools/bench/compare.py --data ../shared/data/fashion-mnist [--rounds 2] [--python PY]

PY is a Python with tensorflow-cpu, keras and torch (default: the venv that
../shared/reference/setup.sh makes). Strata is run from target/release/strata
(build it first: cargo build --release -p strata-cli).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))


def last_json(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=6000)
    p.add_argument("--python", default=os.path.expanduser("~/.cache/strata-reference-venv/bin/python"))
    p.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "reference"))
    args = p.parse_args()
    strata = os.path.join(ROOT, "target", "release", "strata")
    common = ["--data", args.data, "--epochs", str(args.epochs), "--train-limit", str(args.train_limit)]
    benches = {
        "headline b32": {
            "strata": [strata, "train", "--json", "--threads", "2", "--batch-size", "32"] + common,
            "keras": [args.python, os.path.join(args.reference, "keras_seed.py"), "--threads", "2"] + common,
            "torch": [args.python, os.path.join(args.reference, "torch_seed.py"), "--threads", "2"] + common,
        },
        "headline b128": {
            "strata": [strata, "train", "--json", "--threads", "2", "--batch-size", "128"] + common,
            "keras": [args.python, os.path.join(HERE, "keras_bench.py"), "--model", "headline", "--batch-size", "128"] + common,
        },
        "dense b128": {
            "strata": [strata, "train", "--json", "--threads", "2", "--model", "dense", "--batch-size", "128"] + common,
            "keras": [args.python, os.path.join(HERE, "keras_bench.py"), "--model", "dense", "--batch-size", "128"] + common,
        },
    }
    results = {}
    for r in range(args.rounds):
        for bench, runs in benches.items():
            for fw, cmd in runs.items():
                d = last_json(cmd)
                train = d.get("train_samples_per_s", d.get("samples_per_second"))
                infer = d.get("infer_samples_per_s", d.get("infer_samples_per_second"))
                results.setdefault((bench, fw), []).append((train, infer, d.get("peak_rss_mb"), d.get("test_accuracy")))
                print(f"round {r + 1} {bench:14} {fw:7} train {train:>9.1f}/s infer {infer:>9.1f}/s rss {d.get('peak_rss_mb')} MB acc {d.get('test_accuracy')}", flush=True)
    print("\n| benchmark | framework | train samples/s (median) | Strata ratio | inference samples/s | Strata ratio | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for bench, runs in benches.items():
        s_train = statistics.median(v[0] for v in results[(bench, "strata")])
        s_infer = statistics.median(v[1] for v in results[(bench, "strata")])
        for fw in runs:
            vals = results[(bench, fw)]
            train, infer = statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals)
            rss = max(v[2] or 0 for v in vals)
            print(f"| {bench} | {fw} | {train:,.0f} | {s_train / train:.2f} | {infer:,.0f} | {s_infer / infer:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
