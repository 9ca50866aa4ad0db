#!/usr/bin/env python3
"""Strata against ONNX Runtime on the headline CNN, interleaved in one sitting:
single-image latency (p50, p99) and batch-1000 inference throughput.

The ONNX model is the headline CNN (Conv2D 32, 64, 64 with 2x2 max pools,
Dense 64, Dense 10 softmax) written in PyTorch and exported with
`torch.onnx.export`, channels first, which is ONNX Runtime's own layout
(its CPU provider reorders convolutions into blocked layouts itself). With
`--model M.safetensors` (a `strata train --save` file) it carries Strata's
trained weights and the script checks that both give the same
probabilities on the bundled test images; timing does not depend on them.

ONNX Runtime runs its CPU execution provider with `--threads` intra-op
threads (default 2, as `strata` uses on this machine), sequential execution,
every graph optimisation on. Strata runs as `strata bench --latency` and
`strata bench --model headline` (its inference figure: the bundled sample's
2,000 test images in batches of 1,000) in a subprocess, alternating with
ONNX Runtime every round (order swapped each round).

    python3 -m pip install onnxruntime onnx onnxscript torch safetensors
    python3 tools/bench/onnx_runtime.py --strata target/release/strata [--rounds 5] [--model M.safetensors]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_IMAGES = os.path.join(HERE, "..", "..", "crates", "strata", "data", "mnist-10k", "t10k-images-idx3-ubyte.gz")


class Headline(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.ModuleList([nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 64, 3)])
        self.dense = nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        for conv in self.conv:
            x = torch.max_pool2d(torch.relu(conv(x)), 2)
        # After three convolutions and pools the image is 1x1: NCHW and NHWC flatten alike.
        x = torch.relu(self.dense(x.flatten(1)))
        return torch.softmax(self.out(x), dim=1)


def load_strata_weights(net, path):
    """Keras-layout weights (kernels HWIO, dense (in, out)) into the PyTorch twin."""
    from safetensors.numpy import load_file

    w = load_file(path)
    with torch.no_grad():
        for conv, name in zip(net.conv, ["conv2d", "conv2d_1", "conv2d_2"]):
            conv.weight.copy_(torch.from_numpy(w[f"{name}/kernel"].transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(w[f"{name}/bias"]))
        for dense, name in zip([net.dense, net.out], ["dense", "dense_1"]):
            dense.weight.copy_(torch.from_numpy(w[f"{name}/kernel"].T.copy()))
            dense.bias.copy_(torch.from_numpy(w[f"{name}/bias"]))


def test_images():
    with gzip.open(TEST_IMAGES, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return (np.frombuffer(raw[16:], np.uint8).reshape(n, 28, 28, 1).astype(np.float32) / 255.0)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_latency(sess, image, calls, warm_up=200):
    feed = {"x": image}
    for _ in range(warm_up):
        sess.run(None, feed)
    ms = []
    for _ in range(calls):
        t = time.perf_counter()
        sess.run(None, feed)
        ms.append((time.perf_counter() - t) * 1000.0)
    ms.sort()
    rank = lambda q: ms[max(1, int(np.ceil(q * len(ms)))) - 1]
    return rank(0.5), rank(0.99)


def ort_throughput(sess, images):
    sess.run(None, {"x": images[:1000]})
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for start in range(0, len(images), 1000):
            sess.run(None, {"x": images[start:start + 1000]})
        rates.append(len(images) / (time.perf_counter() - t))
    return statistics.median(rates)


def strata_figures(binary, model, calls, threads):
    env = dict(os.environ, STRATA_THREADS=str(threads))
    latency_cmd = [binary, "bench", "--latency", "--json", "--calls", str(calls)]
    latency_cmd += ["--model-file", model] if model else ["--model", "headline"]
    lat = json.loads(subprocess.run(latency_cmd, capture_output=True, text=True, check=True, env=env).stdout)["latency"][0]
    bench = subprocess.run([binary, "bench", "--model", "headline", "--json", "--steps", "5"], capture_output=True, text=True, check=True, env=env)
    infer = json.loads(bench.stdout)["models"][0]["infer_samples_per_second"]
    return lat["latency_ms_p50"], lat["latency_ms_p99"], infer


def check_same_probabilities(binary, model, path, images):
    """Strata's predictions for the first 100 test images against ONNX Runtime's."""
    with tempfile.TemporaryDirectory() as d:
        x, out = os.path.join(d, "x.npy"), os.path.join(d, "p.npy")
        np.save(x, images[:100])
        subprocess.run([binary, "predict", "--model", model, "--x", x, "--out", out], check=True, capture_output=True)
        strata_p = np.load(out)
    ort_p = session(path, 1).run(None, {"x": images[:100].transpose(0, 3, 1, 2).copy()})[0]
    diff = float(np.abs(strata_p - ort_p).max())
    print(f"same model: max |Strata - ONNX Runtime| over 100 test images' probabilities = {diff:.2e}")
    if diff > 1e-4:
        sys.exit("the ONNX model does not compute what the Strata model does")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--strata", default=os.path.join(HERE, "..", "..", "target", "release", "strata"))
    p.add_argument("--model", help="a `strata train --save` file of the headline CNN (default: random weights)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(0)
    net = Headline().eval()
    if a.model:
        load_strata_weights(net, a.model)
    images = test_images()
    nchw = images.transpose(0, 3, 1, 2).copy()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "headline.onnx")
        torch.onnx.export(net, torch.from_numpy(nchw[:1]), path, input_names=["x"], output_names=["p"],
                          dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}}, dynamo=False)
        if a.model:
            check_same_probabilities(a.strata, a.model, path, images)
        sess = session(path, a.threads)
        print(f"onnxruntime {ort.__version__}, {a.threads} intra-op threads; {a.calls} single-image calls per round; "
              f"{len(images)} test images in batches of 1000", flush=True)
        runs = {"strata": [], "onnxruntime": []}
        for r in range(a.rounds):
            for who in (["strata", "onnxruntime"] if r % 2 == 0 else ["onnxruntime", "strata"]):
                if who == "strata":
                    fig = strata_figures(a.strata, a.model, a.calls, a.threads)
                else:
                    fig = (*ort_latency(sess, nchw[:1], a.calls), ort_throughput(sess, nchw))
                runs[who].append(fig)
                print(f"round {r} {who:12s} p50 {fig[0]:.4f} ms  p99 {fig[1]:.4f} ms  batch-1000 {fig[2]:.0f} samples/s", flush=True)
    med = {who: [statistics.median(f[i] for f in runs[who]) for i in range(3)] for who in runs}
    (sp50, sp99, sinf), (op50, op99, oinf) = med["strata"], med["onnxruntime"]
    print(f"medians: Strata p50 {sp50:.4f} ms, p99 {sp99:.4f} ms, {sinf:.0f} samples/s; "
          f"ONNX Runtime p50 {op50:.4f} ms, p99 {op99:.4f} ms, {oinf:.0f} samples/s")
    print(f"ratios (ONNX Runtime / Strata latency, Strata / ONNX Runtime throughput): p50 {op50 / sp50:.2f}x, "
          f"p99 {op99 / sp99:.2f}x, batch-1000 {sinf / oinf:.2f}x")


if __name__ == "__main__":
    main()
