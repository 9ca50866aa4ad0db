#!/usr/bin/env python3
"""The Keras twin of `cargo run --release -p strata --example spoken_digits`:
the same recordings, split, model, optimizer, batch size and epochs, so the
two test accuracies can stand side by side.

    python3 -m pip install tensorflow-cpu keras scipy
    python3 tools/bench/keras_spoken_digits.py --data ../shared/data/spoken-digits --epochs 30 [--holdout george] [--augment] [--seed 0]

Prints one JSON line: test_accuracy, seconds, and what was run. With
--augment, each training clip is varied every epoch as the Strata example
does (speed 0.85-1.15x by polyphase resampling, +-6 dB, up to 0.125 s of
shift, noise 20-40 dB below the clip).
"""

import argparse
import json
import os
import time
import wave

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

RATE, LENGTH = 8000, 8000


def load(path):
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def fit(clip, shift=0):
    out = np.zeros(LENGTH, np.float32)
    clip = clip[: LENGTH - shift]
    out[shift:shift + len(clip)] = clip
    return out


def augment(clip, rng):
    speed = rng.uniform(0.85, 1.15)
    up = int(round(RATE / speed))
    out = resample_poly(clip, up, RATE).astype(np.float32)
    gain = 10 ** (rng.uniform(-6, 6) / 20)
    rms = np.sqrt(np.mean(out ** 2)) if len(out) else 0.0
    noise = rms * 10 ** (-rng.uniform(20, 40) / 20)
    shift = min(int(rng.integers(0, 1001)), max(LENGTH - len(out), 0))
    return gain * (fit(out, shift) + noise * rng.standard_normal(LENGTH).astype(np.float32))


def model(seed):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([
        keras.Input((LENGTH,)),
        layers.MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=RATE, num_mel_bins=40, min_freq=20.0, top_db=200.0),
        layers.Permute((2, 1)),
        layers.BatchNormalization(),
        layers.Reshape((63, 40, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/spoken-digits")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", default="")
    p.add_argument("--augment", action="store_true")
    a = p.parse_args()
    folder = os.path.join(a.data, "recordings")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".wav"))
    clips, labels, held = [], [], []
    for f in files:
        digit, speaker, take = f[:-4].split("_")
        clips.append(load(os.path.join(folder, f)))
        labels.append(int(digit))
        held.append(speaker == a.holdout if a.holdout else int(take) < 5)
    labels, held = np.array(labels), np.array(held)
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    onehot = np.eye(10, dtype=np.float32)
    test_x = np.stack([fit(clips[i]) for i in test])
    m = model(a.seed)
    rng = np.random.default_rng(a.seed)
    start = time.time()
    for _ in range(a.epochs):
        order = rng.permutation(train)
        x = np.stack([augment(clips[i], rng) if a.augment else fit(clips[i]) for i in order])
        m.fit(x, onehot[labels[order]], batch_size=a.batch_size, epochs=1, shuffle=False, verbose=0)
    seconds = time.time() - start
    accuracy = float(m.evaluate(test_x, onehot[labels[test]], batch_size=250, verbose=0)[1])
    print(json.dumps({"framework": "keras " + keras.__version__, "holdout": a.holdout, "augment": a.augment, "epochs": a.epochs,
                      "seed": a.seed, "test_accuracy": accuracy, "test_recordings": len(test), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
