#!/usr/bin/env python3
"""Keras versions of Strata's benchmark models, timed like ../shared/reference/keras_seed.py.

    headline  the founding document's CNN (any batch size)
    dense     Flatten, Dense 512 relu, Dense 512 relu, Dense 10 softmax

Prints one JSON line: train_samples_per_s (training samples / median epoch),
infer_samples_per_s (predict on the test set, batch 1000), test_accuracy, peak_rss_mb.

    python tools/bench/keras_bench.py --model dense --batch-size 128 --data DIR --epochs 3 --train-limit 6000
"""

import argparse
import gzip
import json
import os
import resource
import statistics
import struct
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def read_idx(directory, stem):
    path = os.path.join(directory, stem)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if os.path.exists(path + ".gz") else path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", choices=["headline", "dense"], default="headline")
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import layers
    keras.utils.set_random_seed(args.seed)

    x = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32)[..., None] / 255.0
    y = np.eye(10, dtype=np.float32)[read_idx(args.data, "train-labels-idx1-ubyte")]
    xt = read_idx(args.data, "t10k-images-idx3-ubyte").astype(np.float32)[..., None] / 255.0
    yt = np.eye(10, dtype=np.float32)[read_idx(args.data, "t10k-labels-idx1-ubyte")]
    if args.train_limit:
        x, y = x[:args.train_limit], y[:args.train_limit]

    if args.model == "headline":
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
            layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
        ])
    else:
        model = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Flatten(),
            layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax"),
        ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)

    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0, callbacks=[Timer()])
    loss, acc = model.evaluate(xt, yt, batch_size=1000, verbose=0)
    model.predict(xt, batch_size=1000, verbose=0)
    infer = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.predict(xt, batch_size=1000, verbose=0)
        infer.append(time.perf_counter() - t0)
    print(json.dumps({
        "framework": "keras", "model": args.model, "batch_size": args.batch_size,
        "train_samples_per_s": round(len(x) / statistics.median(seconds), 1),
        "infer_samples_per_s": round(len(xt) / statistics.median(infer), 1),
        "epoch_seconds": [round(s, 3) for s in seconds],
        "test_accuracy": round(float(acc), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }))


if __name__ == "__main__":
    main()
