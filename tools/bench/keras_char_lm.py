#!/usr/bin/env python3
"""The Keras twin of `cargo run --release -p strata --example char_lm`: the
same model (Embedding(vocab, 64) -> LSTM(256, return_sequences) ->
Dense(vocab) logits), the same vocabulary (TextVectorization(standardize=None,
split="character") adapted to train.txt: 0 pads, 1 is [UNK]), batches of 64 random windows of 100 characters,
Adam 2e-3, the same number of steps, 2 threads; then the validation loss
(nats per character) over the same 200 consecutive windows of valid.txt.

    python3 tools/bench/keras_char_lm.py --data ../shared/data/shakespeare --steps 1000
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--data", default="../shared/data/shakespeare")
p.add_argument("--steps", type=int, default=500)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--valid-windows", type=int, default=200)
p.add_argument("--trace", default="", help="start from DIR/init.safetensors and train on the windows of DIR/starts.npy, written by the Strata example's --trace DIR")
p.add_argument("--log-every", type=int, default=100)
p.add_argument("--dense-gradients", action="store_true",
               help="hand Adam the Embedding's gradient as a dense tensor (as the JAX backend does) instead of TensorFlow's IndexedSlices, "
                    "whose repeated rows Keras's Adam squares one by one, making the table's steps up to sqrt(occurrences) times larger")
a = p.parse_args()
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
keras.utils.set_random_seed(a.seed)

WINDOW, BATCH = 100, 64
train = open(os.path.join(a.data, "train.txt"), encoding="utf-8").read()
valid = open(os.path.join(a.data, "valid.txt"), encoding="utf-8").read()
chars = keras.layers.TextVectorization(standardize=None, split="character")
chars.adapt([train])
vocab = chars.get_vocabulary()
index = {c: i for i, c in enumerate(vocab) if i >= 2}
train_ids = np.array([index.get(c, 1) for c in train], dtype=np.int32)
valid_ids = np.array([index.get(c, 1) for c in valid], dtype=np.int32)

model = keras.Sequential([keras.Input((WINDOW,)), keras.layers.Embedding(len(vocab), 64),
                          keras.layers.LSTM(256, return_sequences=True), keras.layers.Dense(len(vocab))])
model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def windows(ids, starts):
    return np.stack([ids[s:s + WINDOW] for s in starts]), np.stack([ids[s + 1:s + WINDOW + 1] for s in starts])


rng = np.random.default_rng(a.seed)
batches = [rng.integers(0, len(train_ids) - WINDOW - 1, BATCH) for _ in range(a.steps)]
if a.trace:
    from safetensors.numpy import load_file
    init = load_file(os.path.join(a.trace, "init.safetensors"))
    for v in model.weights:
        v.assign(init[v.path.split("/", 1)[1] if v.path.startswith("sequential") else v.path])
    batches = np.load(os.path.join(a.trace, "starts.npy")).astype(np.int64)[: a.steps]
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@tf.function
def dense_step(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


started, recent = time.time(), 0.0
for step, starts in zip(range(1, a.steps + 1), batches):
    x, y = windows(train_ids, starts)
    if a.dense_gradients:
        recent += float(dense_step(tf.constant(x), tf.constant(y)))
    else:
        recent += float(model.train_on_batch(x, y))
    if step % a.log_every == 0:
        print(f"step {step}/{a.steps}: training loss {recent / a.log_every:.4f} ({step * BATCH * WINDOW / (time.time() - started):.0f} characters/s)", flush=True)
        recent = 0.0
starts = [k * WINDOW for k in range(a.valid_windows) if k * WINDOW + WINDOW < len(valid_ids)]
vx, vy = windows(valid_ids, starts)
loss = model.evaluate(vx, vy, batch_size=BATCH, verbose=0)
print(f"keras validation loss {loss:.4f} nats per character over {len(starts)} windows of {WINDOW}")
