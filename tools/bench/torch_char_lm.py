#!/usr/bin/env python3
"""The PyTorch twin of `cargo run --release -p strata --example char_lm`: the
same model (nn.Embedding(vocab, 64) -> nn.LSTM(64, 256) -> nn.Linear(256,
vocab) logits), the same vocabulary (the char_lm example's TextVectorization
adapted to train.txt: 0 pads, 1 is [UNK], then the characters by count, ties
in reverse byte order), batches of 64 random windows of 100 characters,
Adam 2e-3 (epsilon 1e-7, Keras's and Strata's), the same number of steps, 2
threads; then the validation loss (nats per character) over the same 200
consecutive windows of valid.txt.

    python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu
    python3 tools/bench/torch_char_lm.py --data ../shared/data/shakespeare --steps 1000 [--trace DIR] [--gru]

With --trace DIR (written by the Strata example's `--trace DIR`) it starts
from Strata's initial weights (Keras's gate order i, f, c, o is PyTorch's
i, f, g, o; the kernels are transposed; PyTorch's second bias is zero) and
trains on the same windows.
"""
import argparse
import collections
import os
import time

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--data", default="../shared/data/shakespeare")
p.add_argument("--steps", type=int, default=500)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--valid-windows", type=int, default=200)
p.add_argument("--trace", default="")
p.add_argument("--log-every", type=int, default=100)
p.add_argument("--gru", action="store_true", help="nn.GRU(64, 256) in place of the LSTM (speed only: PyTorch's GRU is Keras's reset_after=True form, its gate order r, z, n)")
a = p.parse_args()
torch.set_num_threads(2)
torch.manual_seed(a.seed)

WINDOW, BATCH = 100, 64
train = open(os.path.join(a.data, "train.txt"), encoding="utf-8").read()
valid = open(os.path.join(a.data, "valid.txt"), encoding="utf-8").read()
counts = collections.Counter(train)
vocab = ["", "[UNK]"] + sorted(counts, key=lambda c: (counts[c], c.encode()), reverse=True)
index = {c: i for i, c in enumerate(vocab) if i >= 2}
train_ids = np.array([index.get(c, 1) for c in train], dtype=np.int64)
valid_ids = np.array([index.get(c, 1) for c in valid], dtype=np.int64)


class CharModel(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.embedding = torch.nn.Embedding(n, 64)
        self.rnn = (torch.nn.GRU if a.gru else torch.nn.LSTM)(64, 256, batch_first=True)
        self.dense = torch.nn.Linear(256, n)

    def forward(self, x):
        return self.dense(self.rnn(self.embedding(x))[0])


model = CharModel(len(vocab))
rng = np.random.default_rng(a.seed)
batches = [rng.integers(0, len(train_ids) - WINDOW - 1, BATCH) for _ in range(a.steps)]
if a.trace:
    from safetensors.numpy import load_file
    init = load_file(os.path.join(a.trace, "init.safetensors"))
    t = lambda name: torch.from_numpy(init[name].copy())
    with torch.no_grad():
        model.embedding.weight.copy_(t("embedding/embeddings"))
        model.rnn.weight_ih_l0.copy_(t("lstm/lstm_cell/kernel").T)
        model.rnn.weight_hh_l0.copy_(t("lstm/lstm_cell/recurrent_kernel").T)
        model.rnn.bias_ih_l0.copy_(t("lstm/lstm_cell/bias"))
        model.rnn.bias_hh_l0.zero_()
        model.dense.weight.copy_(t("dense/kernel").T)
        model.dense.bias.copy_(t("dense/bias"))
    batches = np.load(os.path.join(a.trace, "starts.npy")).astype(np.int64)[: a.steps]
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()


def windows(ids, starts):
    x = np.stack([ids[s:s + WINDOW] for s in starts])
    y = np.stack([ids[s + 1:s + WINDOW + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


started, recent = time.time(), 0.0
for step, starts in zip(range(1, a.steps + 1), batches):
    x, y = windows(train_ids, starts)
    optimizer.zero_grad()
    loss = loss_fn(model(x).reshape(-1, len(vocab)), y.reshape(-1))
    loss.backward()
    optimizer.step()
    recent += float(loss)
    if step % a.log_every == 0:
        print(f"step {step}/{a.steps}: training loss {recent / a.log_every:.4f} ({step * BATCH * WINDOW / (time.time() - started):.0f} characters/s)", flush=True)
        recent = 0.0
starts = [k * WINDOW for k in range(a.valid_windows) if k * WINDOW + WINDOW < len(valid_ids)]
with torch.no_grad():
    vx, vy = windows(valid_ids, starts)
    total = sum(float(loss_fn(model(vx[i:i + BATCH]).reshape(-1, len(vocab)), vy[i:i + BATCH].reshape(-1))) * len(vx[i:i + BATCH]) for i in range(0, len(vx), BATCH))
print(f"torch validation loss {total / len(vx):.4f} nats per character over {len(starts)} windows of {WINDOW}")
