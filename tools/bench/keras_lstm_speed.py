#!/usr/bin/env python3
"""The Keras twin of `cargo run --release -p strata --example lstm_speed`: the
same model, data shape, batch and optimizer, 2 threads; prints characters/s.
With the argument `gru`, a GRU(256) in place of the LSTM."""
import sys
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, tensorflow as tf, keras
tf.config.threading.set_intra_op_parallelism_threads(2); tf.config.threading.set_inter_op_parallelism_threads(2)
vocab, t, windows = 65, 100, 64*12
rng = np.random.default_rng(0)
ids = rng.integers(0, vocab, size=(windows, t+1))
x, y = ids[:, :t], keras.utils.to_categorical(ids[:, 1:], vocab)
m = keras.Sequential([keras.Input((t,)), keras.layers.Embedding(vocab, 64), (keras.layers.GRU if "gru" in sys.argv[1:] else keras.layers.LSTM)(256, return_sequences=True), keras.layers.Dense(vocab, activation="softmax")])
m.compile(keras.optimizers.Adam(2e-3), "categorical_crossentropy")
m.fit(x, y, batch_size=64, epochs=1, verbose=0)
s = time.time(); m.fit(x, y, batch_size=64, epochs=2, verbose=0); e = time.time() - s
print(f"keras {'GRU' if 'gru' in sys.argv[1:] else 'LSTM'} {windows*t*2/e:.0f} characters/s")
