#!/usr/bin/env python3
"""Writes the Keras reference values that Strata's tests compare against.

Each case builds a small Keras object with fixed inputs and weights and records
forward values, gradients (for the objective sum(output * r) with a fixed r),
optimizer steps and short fit() runs, as JSON in crates/strata/tests/fixtures/.
The Rust tests read these files, so they need no Python.

    python3 -m pip install tensorflow-cpu keras safetensors scipy   # scipy for STFTSpectrogram; or ../shared/reference/setup.sh, plus safetensors
    python3 tools/keras_fixtures.py               # rewrites the fixtures
"""

import json
import os
import re
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "strata", "tests", "fixtures")
rng = np.random.default_rng(1234)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def grads_of(fn, inputs):
    """Value of fn(*inputs) and d(sum(fn * r))/d(inputs) for a fixed random r."""
    vs = [tf.Variable(x) for x in inputs]
    with tf.GradientTape() as tape:
        out = fn(*vs)
        r = tf.constant(rand(*out.shape))
        obj = tf.reduce_sum(out * r)
    grads = tape.gradient(obj, vs)
    return out.numpy(), r.numpy(), [g.numpy() for g in grads]


def layer_case(name, layer, x, weights, training=False):
    layer.build(x.shape)
    layer.set_weights(weights)
    w_vars = layer.trainable_variables

    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = layer(xv, training=training)
        r = tf.constant(rand(*out.shape))
        obj = tf.reduce_sum(out * r)
    grads = tape.gradient(obj, [xv] + list(w_vars))
    return {
        "name": name,
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "training": training,
        "output_shape": list(layer.compute_output_shape(x.shape)),
        "x": arr(x),
        "weights": [arr(w) for w in weights],
        "weights_after": [arr(w) for w in layer.get_weights()],
        "output": arr(out),
        "r": arr(r),
        "grad_x": arr(grads[0]) if grads[0] is not None else None,
        "grad_weights": [arr(g) if g is not None else None for g in grads[1:]],
        "params": int(layer.count_params()),
    }


def layers_fixture():
    cases = []
    x = rand(4, 5)
    for act in ["linear", "relu", "sigmoid", "tanh", "softmax"]:
        cases.append(layer_case(f"dense_{act}", layers.Dense(3, activation=act), x, [rand(5, 3), rand(3)]))
    x = rand(2, 7, 6, 3)
    conv_cases = [
        ("conv_valid", dict(kernel_size=(3, 3))),
        ("conv_same_s2", dict(kernel_size=(3, 3), strides=(2, 2), padding="same")),
        ("conv_k23_s12_same_relu", dict(kernel_size=(2, 3), strides=(1, 2), padding="same", activation="relu")),
        ("conv_k1_valid", dict(kernel_size=(1, 1))),
    ]
    for name, kw in conv_cases:
        kh, kw_ = kw["kernel_size"]
        cases.append(layer_case(name, layers.Conv2D(4, **kw), x, [rand(kh, kw_, 3, 4), rand(4)]))
    pool_cases = [
        ("pool_2", dict(pool_size=(2, 2))),
        ("pool_3_s2_same", dict(pool_size=(3, 3), strides=(2, 2), padding="same")),
        ("pool_23_s12", dict(pool_size=(2, 3), strides=(1, 2))),
        ("pool_2_same", dict(pool_size=(2, 2), padding="same")),
    ]
    for name, kw in pool_cases:
        cases.append(layer_case(name, layers.MaxPooling2D(**kw), x, []))
    cases.append(layer_case("flatten", layers.Flatten(), x, []))
    for name, kw in [("avgpool_2", dict(pool_size=(2, 2))), ("avgpool_3_s2_same", dict(pool_size=(3, 3), strides=(2, 2), padding="same"))]:
        cases.append(layer_case(name, layers.AveragePooling2D(**kw), x, []))
    cases.append(layer_case("global_avg", layers.GlobalAveragePooling2D(), x, []))
    cases.append(layer_case("global_max", layers.GlobalMaxPooling2D(), x, []))
    cases.append(layer_case("global_avg_keepdims", layers.GlobalAveragePooling2D(keepdims=True), x, []))
    cases.append(layer_case("reshape", layers.Reshape((6, -1)), x, []))
    cases.append(layer_case("activation_gelu", layers.Activation("gelu"), x, []))
    cases.append(layer_case("dropout_inference", layers.Dropout(0.5), x, []))
    bn_weights = [rand(3) + 1.0, rand(3), rand(3), np.abs(rand(3)) + 0.5]
    cases.append(layer_case("batchnorm_inference", layers.BatchNormalization(), x, bn_weights))
    cases.append(layer_case("batchnorm_training", layers.BatchNormalization(momentum=0.9), x, bn_weights, training=True))
    cases.append(layer_case("layernorm", layers.LayerNormalization(), rand(4, 6, scale=3.0), [rand(6) + 1.0, rand(6)]))
    return {"cases": cases}


def layers_extra_fixture():
    """The 1-D, permuting, padding, cropping and upsampling layers (own RNG, so
    adding them left the other fixtures unchanged)."""
    global rng
    rng = np.random.default_rng(4321)
    cases = []
    seq = rand(2, 7, 3)
    for name, kw in [("conv1d_valid", dict(kernel_size=3)),
                     ("conv1d_same_s2_relu", dict(kernel_size=3, strides=2, padding="same", activation="relu")),
                     ("conv1d_causal_tanh", dict(kernel_size=3, padding="causal", activation="tanh")),
                     ("conv1d_k2_s3_nobias", dict(kernel_size=2, strides=3, use_bias=False))]:
        weights = [rand(kw["kernel_size"], 3, 4)] + ([] if kw.get("use_bias") is False else [rand(4)])
        cases.append(layer_case(name, layers.Conv1D(4, **kw), seq, weights))
    for name, layer in [("maxpool1d_2", layers.MaxPooling1D(2)),
                        ("maxpool1d_3_s2_same", layers.MaxPooling1D(3, strides=2, padding="same")),
                        ("avgpool1d_2", layers.AveragePooling1D(2)),
                        ("avgpool1d_3_s1_same", layers.AveragePooling1D(3, strides=1, padding="same")),
                        ("global_avg1d", layers.GlobalAveragePooling1D()),
                        ("global_max1d", layers.GlobalMaxPooling1D()),
                        ("global_max1d_keepdims", layers.GlobalMaxPooling1D(keepdims=True)),
                        ("permute_21", layers.Permute((2, 1)))]:
        cases.append(layer_case(name, layer, seq, []))
    img = rand(2, 5, 4, 3)
    for name, layer in [("permute_312", layers.Permute((3, 1, 2))),
                        ("zeropad_1", layers.ZeroPadding2D(1)),
                        ("zeropad_asym", layers.ZeroPadding2D(((1, 2), (0, 3)))),
                        ("crop", layers.Cropping2D(((1, 0), (2, 1)))),
                        ("upsample_2", layers.UpSampling2D(2)),
                        ("upsample_23", layers.UpSampling2D((2, 3)))]:
        cases.append(layer_case(name, layer, img, []))
    for name, layer in [("relu_layer", layers.ReLU()), ("relu_max1", layers.ReLU(max_value=1.0)),
                        ("relu_slope_threshold", layers.ReLU(negative_slope=0.1, threshold=0.5)),
                        ("relu_all", layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.3)),
                        ("leaky_relu_layer", layers.LeakyReLU()), ("leaky_relu_01", layers.LeakyReLU(negative_slope=0.1))]:
        cases.append(layer_case(name, layer, rand(3, 7, scale=2.0), []))
    for name, layer, x, kshape in [("conv2d_dilated_same", layers.Conv2D(4, (3, 3), dilation_rate=(2, 1), padding="same"), img, (3, 3, 3, 4)),
                                   ("conv2d_groups", layers.Conv2D(6, (2, 2), groups=3, activation="relu"), img, (2, 2, 1, 6)),
                                   ("conv1d_dilated_causal", layers.Conv1D(4, 3, dilation_rate=2, padding="causal"), seq, (3, 3, 4)),
                                   ("conv1d_groups_same", layers.Conv1D(6, 2, groups=3, padding="same"), seq, (2, 1, 6))]:
        cases.append(layer_case(name, layer, x, [rand(*kshape), rand(kshape[-1])]))
    # Initializers: Keras's config, and the mean and variance of a (3, 3, 40, 60)
    # sample (the random numbers differ between frameworks; the distribution must not).
    inits = []
    for init in [keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform"),
                 keras.initializers.VarianceScaling(scale=0.5, mode="fan_avg", distribution="untruncated_normal"),
                 keras.initializers.VarianceScaling(), keras.initializers.LecunNormal(), keras.initializers.LecunUniform(),
                 keras.initializers.TruncatedNormal(mean=0.5, stddev=0.1), keras.initializers.Orthogonal(gain=0.5),
                 keras.initializers.GlorotNormal(), keras.initializers.HeUniform()]:
        w = np.asarray(init((3, 3, 40, 60))).reshape(-1)
        inits.append({"config": keras.initializers.serialize(init), "mean": float(w.mean()), "variance": float(w.var()),
                      "max_abs": float(np.abs(w).max())})
    identity = np.asarray(keras.initializers.Identity(gain=2.0)((3, 4)))
    return {"cases": cases, "initializers": inits, "identity": arr(identity)}


def fit_json_case(name, model, x, y, epochs=3, batch_size=8, **fit_args):
    """A short fit of a compiled Keras model, described by its own to_json(),
    so Strata builds and compiles it from Keras's JSON."""
    initial = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0, **fit_args).history
    case = {"name": name, "model_json": model.to_json(), "x": arr(x), "y": arr(y), "epochs": epochs, "batch_size": batch_size,
            "initial_weights": [arr(w) for w in initial], "final_weights": [arr(w) for w in model.get_weights()],
            "history_loss": [float(v) for v in history["loss"]], "evaluate_loss": float(model.evaluate(x, y, batch_size=batch_size, verbose=0)[0]),
            "params": int(model.count_params())}
    for key, value in fit_args.items():
        case[key] = {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else arr(value)
    return case


def fit_extra_fixture():
    """Short fits of models read from Keras's JSON: regularizers, constraints,
    learning-rate schedules, weight decay, label smoothing, class and sample weights."""
    global rng
    rng = np.random.default_rng(777)
    keras.utils.set_random_seed(7)
    L, R, C = layers, keras.regularizers, keras.constraints
    x = rand(24, 6)
    labels = rng.integers(0, 3, 24)
    y = np.eye(3, dtype=np.float32)[labels]
    cases = []

    model = keras.Sequential([keras.Input((6,)),
                              L.Dense(5, activation="tanh", kernel_regularizer=R.L2(0.05), bias_regularizer=R.L1(0.02), kernel_constraint=C.MaxNorm(0.8)),
                              L.Dense(3, activation="softmax", kernel_regularizer=R.L1L2(0.01, 0.02), kernel_constraint=C.UnitNorm(axis=0), bias_constraint=C.NonNeg())])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    cases.append(fit_json_case("regularizers_constraints", model, x, y))

    seq = rand(24, 8, 2)
    model = keras.Sequential([keras.Input((8, 2)),
                              L.Conv1D(3, 3, padding="causal", activation="relu", kernel_regularizer=R.L2(0.01), kernel_constraint=C.MinMaxNorm(0.2, 0.9, rate=0.5, axis=[0, 1])),
                              L.MaxPooling1D(2), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    cases.append(fit_json_case("conv1d_regularized", model, seq, y))

    S, O = keras.optimizers.schedules, keras.optimizers
    schedules = [S.ExponentialDecay(0.1, 5, 0.5, staircase=True), S.ExponentialDecay(0.1, 3, 0.7),
                 S.InverseTimeDecay(0.1, 2, 0.5), S.InverseTimeDecay(0.1, 2, 0.5, staircase=True),
                 S.PiecewiseConstantDecay([3, 6], [0.01, 0.005, 0.001]),
                 S.PolynomialDecay(0.01, 5, end_learning_rate=0.001, power=2.0, cycle=True), S.PolynomialDecay(0.01, 5),
                 S.CosineDecay(0.01, 8, alpha=0.1, warmup_target=0.02, warmup_steps=3), S.CosineDecay(0.01, 8),
                 S.CosineDecayRestarts(0.02, 3, t_mul=2.0, m_mul=0.8, alpha=0.05), S.CosineDecayRestarts(0.02, 4, t_mul=1.0)]
    schedule_values = [{"config": keras.optimizers.schedules.serialize(s), "values": [float(s(step)) for step in range(25)]} for s in schedules]
    optimizers = [("sgd_exponential_momentum_decay", O.SGD(learning_rate=schedules[0], momentum=0.9, weight_decay=0.01)),
                  ("adam_cosine_warmup", O.Adam(learning_rate=schedules[7])),
                  ("rmsprop_piecewise_decay", O.RMSprop(learning_rate=schedules[4], weight_decay=0.05)),
                  ("adagrad_inverse_time", O.Adagrad(learning_rate=schedules[2])),
                  ("nadam_polynomial_cycle", O.Nadam(learning_rate=schedules[5])),
                  ("adamax_cosine_restarts", O.Adamax(learning_rate=schedules[9])),
                  ("adam_weight_decay_clipnorm", O.Adam(learning_rate=0.01, weight_decay=0.1, clipnorm=0.3))]
    for name, opt in optimizers:
        model = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")])
        model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
        cases.append(fit_json_case(name, model, x, y))
    # Class and sample weights.
    model = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(optimizer=O.SGD(learning_rate=0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    cases.append(fit_json_case("class_weight", model, x, y, class_weight={0: 0.5, 1: 2.0, 2: 1.0}))
    model = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(optimizer=O.Adam(learning_rate=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    cases.append(fit_json_case("sample_weight", model, x, y, sample_weight=rng.uniform(0.0, 2.0, 24).astype(np.float32)))
    # Losses with options, compiled from their configs.
    bin_t = rng.integers(0, 2, (24, 3)).astype(np.float32)
    Ls = keras.losses
    for name, loss in [("cce_label_smoothing", Ls.CategoricalCrossentropy(label_smoothing=0.1)),
                       ("bce_label_smoothing_sum", Ls.BinaryCrossentropy(label_smoothing=0.2, reduction="sum")),
                       ("focal_balanced", Ls.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5)),
                       ("focal_logits_smoothing", Ls.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.1))]:
        binary = name != "cce_label_smoothing"
        last = "linear" if "logits" in name else ("sigmoid" if binary else "softmax")
        model = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="tanh"), L.Dense(3, activation=last)])
        model.compile(optimizer=O.SGD(learning_rate=0.1), loss=loss, metrics=["accuracy"])
        cases.append(fit_json_case(name, model, x, bin_t if binary else y))
    # Loss values and gradients on fixed predictions, with and without sample weights.
    probs = rng.uniform(0.02, 0.98, (6, 3)).astype(np.float32)
    logits = rand(6, 3, scale=2.0)
    targets = rng.integers(0, 2, (6, 3)).astype(np.float32)
    weights = rng.uniform(0.0, 2.0, 6).astype(np.float32)
    loss_cases = []
    for name, loss, pred in [("categorical_crossentropy", Ls.CategoricalCrossentropy(label_smoothing=0.1), probs / probs.sum(-1, keepdims=True)),
                             ("binary_crossentropy", Ls.BinaryCrossentropy(label_smoothing=0.2), probs),
                             ("binary_focal_crossentropy", Ls.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5), probs),
                             ("binary_focal_crossentropy", Ls.BinaryFocalCrossentropy(from_logits=True, gamma=2.5, label_smoothing=0.1), logits),
                             ("mean_squared_error", Ls.MeanSquaredError(reduction="sum"), probs)]:
        for w in [None, weights]:
            p = tf.Variable(pred)
            with tf.GradientTape() as tape:
                value = loss(tf.constant(targets), p, sample_weight=None if w is None else tf.constant(w))
            loss_cases.append({"name": name, "config": Ls.serialize(loss), "y_true": arr(targets), "y_pred": arr(pred),
                               "sample_weight": None if w is None else arr(w), "loss": float(value), "grad": arr(tape.gradient(value, p))})
    # Streaming metrics with sample weights, and AUC.
    metric_cases = []
    scores = [rng.uniform(0, 1, (8, 3)).astype(np.float32) for _ in range(2)]
    truth = [rng.integers(0, 2, (8, 3)).astype(np.float32) for _ in range(2)]
    onehot = [np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)] for _ in range(2)]
    sw = [rng.uniform(0, 2, 8).astype(np.float32) for _ in range(2)]
    M = keras.metrics
    sparse = [np.argmax(v, axis=-1).astype(np.float32) for v in onehot]
    for name, make, ys in [("auc", lambda: M.AUC(), truth), ("accuracy", lambda: M.CategoricalAccuracy(), onehot),
                           ("sparse_categorical_accuracy", lambda: M.SparseCategoricalAccuracy(), sparse),
                           ("binary_accuracy", lambda: M.BinaryAccuracy(), truth),
                           ("top_k_categorical_accuracy", lambda: M.TopKCategoricalAccuracy(k=2), onehot),
                           ("precision", lambda: M.Precision(), truth), ("recall", lambda: M.Recall(), truth),
                           ("mean_squared_error", lambda: M.MeanSquaredError(), truth), ("mean_absolute_error", lambda: M.MeanAbsoluteError(), truth)]:
        for weighted in [False, True]:
            metric = make()
            for k in range(2):
                metric.update_state(ys[k], scores[k], sample_weight=sw[k] if weighted else None)
            metric_cases.append({"name": name, "k": 2, "y_true": [arr(v) for v in ys], "y_pred": [arr(v) for v in scores],
                                 "sample_weight": [arr(v) for v in sw] if weighted else None, "result": float(metric.result())})
    # Callbacks' decisions on fixed sequences of monitored values.
    callback_cases = []
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    for kind, kw, monitor, seq in [
            ("early_stopping", dict(patience=2), "val_loss", [1.0, 0.8, 0.9, 0.85, 0.95, 0.7]),
            ("early_stopping", dict(patience=1, min_delta=0.05, mode="max"), "val_accuracy", [0.5, 0.52, 0.6, 0.61, 0.62]),
            ("early_stopping", dict(patience=0, mode="max"), "val_loss", [0.5, 0.6, 0.55]),
            ("early_stopping", dict(patience=1, start_from_epoch=2), "loss", [1.0, 2.0, 3.0, 2.5, 2.6, 2.7]),
            ("reduce_lr", dict(factor=0.5, patience=2, cooldown=1, min_lr=0.002), "loss", [1.0] * 8),
            ("reduce_lr", dict(factor=0.2, patience=1, min_delta=0.01), "val_loss", [1.0, 0.995, 0.9, 0.899, 0.898, 0.5, 0.6]),
            ("reduce_lr", dict(factor=0.5, patience=1, mode="max"), "val_accuracy", [0.5, 0.4, 0.6, 0.6, 0.6])]:
        model.compile(optimizer=O.Adam(learning_rate=0.01), loss="mse")
        cb = (keras.callbacks.EarlyStopping if kind == "early_stopping" else keras.callbacks.ReduceLROnPlateau)(monitor=monitor, **kw)
        cb.set_model(model)
        model.stop_training = False
        cb.on_train_begin()
        stopped, rates = None, []
        for epoch, value in enumerate(seq):
            cb.on_epoch_end(epoch, {monitor: value})
            rates.append(float(model.optimizer.learning_rate))
            if model.stop_training:
                stopped = epoch
                break
        callback_cases.append({"kind": kind, "args": kw, "monitor": monitor, "values": seq, "stopped": stopped, "learning_rates": rates})
    return {"cases": cases, "schedules": schedule_values, "losses": loss_cases, "metrics": metric_cases, "callbacks": callback_cases}


def activations_fixture():
    x = rand(3, 7, scale=2.0)
    out = []
    for name in ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "relu6", "leaky_relu", "elu", "selu", "gelu",
                 "softplus", "softsign", "silu", "swish", "hard_sigmoid", "hard_silu", "hard_swish", "exponential", "mish"]:
        fn = keras.activations.get(name)
        y, r, (g,) = grads_of(fn, [x])
        out.append({"name": name, "x": arr(x), "output": arr(y), "r": arr(r), "grad_x": arr(g)})
    return {"cases": out}


def losses_fixture():
    cases = []
    y_true_oh = np.eye(4, dtype=np.float32)[[0, 3, 1, 2, 3]]
    labels = np.array([0, 3, 1, 2, 3], dtype=np.float32)
    logits = rand(5, 4, scale=3.0)
    probs = tf.nn.softmax(logits).numpy()
    probs[1] = np.array([0.5, 0.5, 0.0, 0.0], dtype=np.float32)  # exercises the clipping at epsilon
    soft = rng.uniform(0.0, 1.0, (5, 4)).astype(np.float32)
    soft /= soft.sum(axis=1, keepdims=True)
    binary = rng.integers(0, 2, (5, 4)).astype(np.float32)
    specs = [
        ("mse", keras.losses.MeanSquaredError(), soft, rand(5, 4)),
        ("categorical_crossentropy", keras.losses.CategoricalCrossentropy(), y_true_oh, probs),
        ("categorical_crossentropy_soft_targets", keras.losses.CategoricalCrossentropy(), soft, probs),
        ("categorical_crossentropy_unnormalised", keras.losses.CategoricalCrossentropy(), y_true_oh, probs * 3.0),
        ("categorical_crossentropy_from_logits", keras.losses.CategoricalCrossentropy(from_logits=True), y_true_oh, logits),
        ("sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(), labels, probs),
        ("sparse_categorical_crossentropy_from_logits", keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits),
        ("mean_absolute_error", keras.losses.MeanAbsoluteError(), soft, rand(5, 4)),
        ("mean_absolute_percentage_error", keras.losses.MeanAbsolutePercentageError(), rand(5, 4), rand(5, 4)),
        ("mean_squared_logarithmic_error", keras.losses.MeanSquaredLogarithmicError(), soft * 3.0, np.abs(rand(5, 4)) * 2.0),
        ("huber", keras.losses.Huber(), soft, rand(5, 4, scale=2.0)),
        ("log_cosh", keras.losses.LogCosh(), soft, rand(5, 4, scale=2.0)),
        ("binary_crossentropy", keras.losses.BinaryCrossentropy(), binary, tf.sigmoid(logits).numpy()),
        ("binary_crossentropy_from_logits", keras.losses.BinaryCrossentropy(from_logits=True), binary, logits),
        ("kl_divergence", keras.losses.KLDivergence(), soft, probs),
        ("poisson", keras.losses.Poisson(), soft * 4.0, np.abs(rand(5, 4)) + 0.1),
        ("hinge", keras.losses.Hinge(), binary, rand(5, 4)),
        ("squared_hinge", keras.losses.SquaredHinge(), binary, rand(5, 4)),
        ("categorical_hinge", keras.losses.CategoricalHinge(), y_true_oh, rand(5, 4)),
        ("cosine_similarity", keras.losses.CosineSimilarity(), rand(5, 4), rand(5, 4)),
    ]
    for name, loss, y_true, y_pred in specs:
        yp = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = loss(tf.constant(y_true), yp)
        g = tape.gradient(value, yp)
        cases.append({"name": name, "from_logits": "from_logits" in name, "y_true": arr(y_true), "y_pred": arr(y_pred), "loss": float(value), "grad_y_pred": arr(g)})
    # Softmax output fed to a cross-entropy: Keras uses the logits it remembers.
    x = tf.Variable(rand(5, 4, scale=30.0))
    with tf.GradientTape() as tape:
        value = keras.losses.CategoricalCrossentropy()(tf.constant(y_true_oh), keras.activations.softmax(x))
    cases.append({"name": "softmax_then_categorical_crossentropy", "y_true": arr(y_true_oh), "logits": arr(x), "loss": float(value), "grad_logits": arr(tape.gradient(value, x))})
    return {"cases": cases}


def optimizers_fixture():
    cases = []
    w0 = rand(6)
    grads = [rand(6) for _ in range(4)]
    specs = [
        ("sgd_default", keras.optimizers.SGD()),
        ("sgd_lr0.1", keras.optimizers.SGD(learning_rate=0.1)),
        ("sgd_momentum", keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)),
        ("sgd_nesterov", keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)),
        ("adam_default", keras.optimizers.Adam()),
        ("adam_custom", keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5)),
        ("rmsprop_default", keras.optimizers.RMSprop()),
        ("rmsprop_centered_momentum", keras.optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True)),
        ("adagrad_default", keras.optimizers.Adagrad(learning_rate=0.1)),
        ("adadelta_default", keras.optimizers.Adadelta(learning_rate=1.0)),
        ("adamax_default", keras.optimizers.Adamax(learning_rate=0.01)),
        ("nadam_default", keras.optimizers.Nadam(learning_rate=0.01)),
        ("adam_amsgrad", keras.optimizers.Adam(learning_rate=0.01, amsgrad=True)),
        ("adamw_default", keras.optimizers.AdamW(learning_rate=0.01)),
        ("adam_clipnorm", keras.optimizers.Adam(learning_rate=0.01, clipnorm=0.5)),
        ("adam_global_clipnorm", keras.optimizers.Adam(learning_rate=0.01, global_clipnorm=0.5)),
        ("sgd_clipvalue", keras.optimizers.SGD(learning_rate=0.1, clipvalue=0.3)),
    ]
    for name, opt in specs:
        v = tf.Variable(w0)
        steps = []
        for g in grads:
            opt.apply_gradients([(tf.constant(g), v)])
            step = {"weights": arr(v.numpy())}
            if name in ("adam_default", "adam_custom"):
                m, vv = opt._momentums[0], opt._velocities[0]
                step["m"], step["v"] = arr(m.numpy()), arr(vv.numpy())
            steps.append(step)
        cases.append({"name": name, "config": {k: opt.get_config()[k] for k in ("learning_rate",) if k in opt.get_config()}, "initial": arr(w0), "grads": [arr(g) for g in grads], "steps": steps})
    return {"cases": cases}


def fit_case(name, model, x, y, loss, optimizer, epochs, batch_size):
    weights = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return {
        "name": name,
        "loss": loss,
        "optimizer": type(optimizer).__name__.lower(),
        "learning_rate": float(optimizer.get_config()["learning_rate"]),
        "epochs": epochs,
        "batch_size": batch_size,
        "x": arr(x),
        "y": arr(y),
        "initial_weights": [arr(w) for w in weights],
        "final_weights": [arr(w) for w in model.get_weights()],
        "history_loss": [float(v) for v in history.history["loss"]],
        "history_accuracy": [float(v) for v in history.history["accuracy"]],
    }


def fit_fixture():
    keras.utils.set_random_seed(7)
    x = rand(20, 4)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)]
    dense = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    cases = [fit_case("dense_adam_cce", dense, x, y, "categorical_crossentropy", keras.optimizers.Adam(learning_rate=0.01), 3, 8)]
    dense2 = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(3, activation="sigmoid")])
    cases.append(fit_case("dense_sgd_mse", dense2, x, y, "mean_squared_error", keras.optimizers.SGD(learning_rate=0.1), 2, 6))
    xi = rng.uniform(0, 1, (12, 8, 8, 1)).astype(np.float32)
    yi = rng.integers(0, 3, 12).astype(np.float32)
    conv = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(3, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(4, (2, 2), padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    cases.append(fit_case("conv_adam_sparse", conv, xi, yi, "sparse_categorical_crossentropy", keras.optimizers.Adam(), 2, 5))
    return {"cases": cases}


def metrics_fixture():
    """Streaming metrics over two batches."""
    onehot = [np.eye(5, dtype=np.float32)[rng.integers(0, 5, 6)] for _ in range(2)]
    scores = [tf.nn.softmax(rand(6, 5)).numpy() for _ in range(2)]
    binary = [rng.integers(0, 2, (6, 4)).astype(np.float32) for _ in range(2)]
    probs = [rng.uniform(0, 1, (6, 4)).astype(np.float32) for _ in range(2)]
    real = [rand(6, 3) for _ in range(2)]
    guess = [rand(6, 3) for _ in range(2)]
    specs = [
        ("accuracy", keras.metrics.CategoricalAccuracy(), onehot, scores),
        ("top_k_categorical_accuracy", keras.metrics.TopKCategoricalAccuracy(k=5 - 2), onehot, scores),
        ("precision", keras.metrics.Precision(), binary, probs),
        ("recall", keras.metrics.Recall(), binary, probs),
        ("mean_squared_error", keras.metrics.MeanSquaredError(), real, guess),
        ("mean_absolute_error", keras.metrics.MeanAbsoluteError(), real, guess),
    ]
    cases = []
    for name, metric, ys, ps in specs:
        for y, p in zip(ys, ps):
            metric.update_state(y, p)
        cases.append({"name": name, "k": 3, "y_true": [arr(y) for y in ys], "y_pred": [arr(p) for p in ps], "result": float(metric.result())})
    return {"cases": cases}


def headline_model():
    """The founding document's CNN, compiled as it compiles it."""
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def keras_model_fixture():
    """The headline CNN exported the way a Keras user would: model.to_json(),
    the weights as safetensors named by Keras's variable paths, and the
    model's predictions on a few inputs, for Strata to load and reproduce."""
    from safetensors.numpy import save_file
    keras.utils.set_random_seed(3)
    model = headline_model()
    # Biases are zero after initialisation; give them values so loading them is tested.
    for v in model.weights:
        if v.path.endswith("bias"):
            v.assign(rand(*v.shape, scale=0.1))
    x = rng.uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    save_file({v.path: v.numpy() for v in model.weights}, os.path.join(OUT, "keras_headline.safetensors"))
    return {"model_json": model.to_json(), "params": int(model.count_params()), "x": arr(x), "predictions": arr(model.predict(x, verbose=0))}


def merge_case(name, layer, xs):
    """A merge layer on several inputs: output, and the gradient of sum(output * r) for each input."""
    vs = [tf.Variable(x) for x in xs]
    with tf.GradientTape() as tape:
        out = layer(vs)
        r = tf.constant(rand(*out.shape))
        obj = tf.reduce_sum(out * r)
    grads = tape.gradient(obj, vs)
    return {"name": name, "class_name": type(layer).__name__, "config": layer.get_config(), "xs": [arr(x) for x in xs],
            "output": arr(out), "r": arr(r), "grads": [arr(g) for g in grads]}


def functional_fit_case(name, model, x, y, epochs=1, batch_size=8):
    """One epoch of fit (no shuffling) of a compiled functional model from its
    own to_json(), with the initial weights by variable path, then predictions."""
    initial = {v.path: arr(v.numpy()) for v in model.weights}
    fy = y if len(model.outputs) > 1 else next(iter(y.values()))
    fx = x if len(model.inputs) > 1 else next(iter(x.values()))
    history = model.fit(fx, fy, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0).history
    pred = model.predict(fx, verbose=0)
    pred = pred if isinstance(pred, (list, tuple)) else [pred]
    return {"name": name, "model_json": model.to_json(), "x": {k: arr(v) for k, v in x.items()}, "y": {k: arr(v) for k, v in y.items()},
            "epochs": epochs, "batch_size": batch_size, "initial_weights": initial, "final_weights": {v.path: arr(v.numpy()) for v in model.weights},
            "history": {k: [float(v) for v in vs] for k, vs in history.items()}, "output_names": list(model.output_names),
            "predictions": [arr(p) for p in pred], "params": int(model.count_params())}


def functional_fixture():
    """Merge layers, and functional models (two inputs, two outputs with a map
    of losses and loss weights, a shared layer, a residual block, a nested
    Sequential, feature extraction) against Keras; the two-input, two-output
    model is also written as Keras's own files for the command-line tests."""
    from safetensors.numpy import save_file
    global rng
    rng = np.random.default_rng(2468)
    keras.utils.set_random_seed(11)
    L = layers
    cases = []
    a, b, c = rand(4, 5), rand(4, 5), rand(4, 5)
    for name, layer, xs in [("add3", L.Add(), [a, b, c]), ("subtract", L.Subtract(), [a, b]), ("multiply", L.Multiply(), [a, b, c]),
                            ("average", L.Average(), [a, b]), ("maximum", L.Maximum(), [a, b, c]), ("minimum", L.Minimum(), [a, b]),
                            ("add_broadcast", L.Add(), [rand(4, 3, 5), rand(4, 1, 5)]),
                            ("concatenate_last", L.Concatenate(), [rand(4, 2, 3), rand(4, 2, 5)]),
                            ("concatenate_axis1", L.Concatenate(axis=1), [rand(4, 2, 3), rand(4, 4, 3)]),
                            ("dot_1", L.Dot(axes=1), [a, b]), ("dot_normalize", L.Dot(axes=1, normalize=True), [a, b]),
                            ("dot_3d_22", L.Dot(axes=(2, 2)), [rand(4, 3, 5), rand(4, 2, 5)]),
                            ("dot_3d_12", L.Dot(axes=(1, 2)), [rand(4, 3, 5), rand(4, 2, 3)]),
                            ("dot_2d_3d", L.Dot(axes=(1, 2)), [rand(4, 3), rand(4, 6, 3)])]:
        cases.append(merge_case(name, layer, xs))
    n = 16
    models = []
    # Two inputs, two outputs: a map of losses and loss weights, metrics on one output.
    ia, ib = keras.Input((5,), name="a"), keras.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(6, activation="tanh", name="da")(ia), L.Dense(6, activation="relu", name="db")(ib)])
    o1 = L.Dense(2, name="out1")(h)
    o2 = L.Dense(3, activation="softmax", name="out2")(L.Dense(4, activation="relu", name="mid")(h))
    m = keras.Model([ia, ib], [o1, o2], name="two_io")
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss={"out1": "mse", "out2": "categorical_crossentropy"},
              loss_weights={"out1": 0.5, "out2": 1.0}, metrics={"out2": ["accuracy"]})
    x = {"a": rand(n, 5), "b": rand(n, 3)}
    y = {"out1": rand(n, 2), "out2": np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]}
    save_file({v.path: v.numpy() for v in m.weights}, os.path.join(OUT, "functional_two_io.safetensors"))
    with open(os.path.join(OUT, "functional_two_io.json"), "w") as f:
        f.write(m.to_json())
    np.savez(os.path.join(OUT, "functional_two_io_x.npz"), **x)
    np.savez(os.path.join(OUT, "functional_two_io_y.npz"), **y)
    models.append(functional_fit_case("two_io", m, x, y))
    # A shared layer applied to two inputs, merged by a dot product (a siamese pair).
    ia, ib = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    shared = L.Dense(4, activation="tanh", name="shared")
    o = L.Dense(1, activation="sigmoid", name="same")(L.Multiply()([shared(ia), shared(ib)]))
    m = keras.Model([ia, ib], o, name="siamese")
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    models.append(functional_fit_case("shared", m, {"left": rand(n, 6), "right": rand(n, 6)}, {"same": rng.integers(0, 2, (n, 1)).astype(np.float32)}))
    # A residual block on images, with the headline's fused Conv2D(relu) + MaxPooling2D pair.
    ii = keras.Input((8, 8, 2), name="image")
    c1 = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(ii)
    c2 = L.Conv2D(4, 3, padding="same", name="c2")(c1)
    r = L.Activation("relu", name="act")(L.Add(name="residual")([c1, c2]))
    p = L.MaxPooling2D(2, name="pool")(L.Conv2D(5, 3, activation="relu", name="c3")(r))
    o = L.Dense(3, activation="softmax", name="probs")(L.Flatten(name="flat")(p))
    m = keras.Model(ii, o, name="residual_net")
    m.compile(optimizer=keras.optimizers.Adam(0.005), loss="categorical_crossentropy", metrics=["accuracy"])
    models.append(functional_fit_case("residual", m, {"image": rand(n, 8, 8, 2)}, {"probs": np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]}))
    # A Sequential nested in a functional model.
    inner = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu", name="inner_a"), L.Dense(3, name="inner_b")], name="block")
    ii = keras.Input((6,), name="x")
    o = L.Dense(2, name="head")(inner(L.Dense(4, activation="tanh", name="stem")(ii)))
    m = keras.Model(ii, o, name="nested")
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    models.append(functional_fit_case("nested", m, {"x": rand(n, 6)}, {"head": rand(n, 2)}))
    # Feature extraction: a model whose outputs are another model's inner activations.
    base = models_for_features = keras.Model(models_input := keras.Input((5,), name="feat_in"),
                                             L.Dense(2, name="f_out")(L.Dense(4, activation="relu", name="f_hidden")(L.Dense(6, name="f_first")(models_input))))
    features = keras.Model(base.inputs, [base.get_layer("f_first").output, base.get_layer("f_hidden").output], name="features")
    fx = rand(5, 5)
    feature_case = {"base_json": base.to_json(), "weights": {v.path: arr(v.numpy()) for v in base.weights}, "x": arr(fx),
                    "outputs": [arr(o) for o in features.predict(fx, verbose=0)], "features_json": features.to_json()}
    return {"merge_cases": cases, "models": models, "feature_extraction": feature_case}


def keras_files_fixture():
    """Keras 3's own .keras files (zip: config.json + model.weights.h5): the
    headline CNN and a functional model with a nested Sequential and
    BatchNormalization, with inputs and Keras's predictions, for Strata to
    open and reproduce."""
    keras.utils.set_random_seed(5)
    cases = []
    headline = headline_model()
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(5, activation="relu", name="inner_a"), layers.BatchNormalization(name="inner_bn")], name="block")
    x_in = keras.Input((4,), name="x")
    out = layers.Dense(3, activation="softmax", name="head")(inner(layers.Dense(6, activation="tanh", name="stem")(x_in)))
    nested = keras.Model(x_in, out, name="nested")
    nested.compile(optimizer="adam", loss="categorical_crossentropy")
    # Branches of different depths and a shared layer: Keras keys weights by
    # layer depth, not by the order the layers were called in.
    b_in = keras.Input((3,), name="b_in")
    shared = layers.Dense(4, activation="tanh")
    short = layers.Dense(4)(b_in)
    long = layers.Dense(4)(shared(layers.Dense(4, activation="relu")(b_in)))
    again = shared(long)
    branched = keras.Model(b_in, layers.Dense(2)(layers.Concatenate()([short, again])), name="branched")
    branched.compile(optimizer="adam", loss="mse")
    cases_in = [("headline", headline, rng.uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)), ("nested", nested, rand(5, 4)), ("branched", branched, rand(4, 3))]
    for name, model, x in cases_in:
        # Non-zero biases and batch statistics, so loading each of them is tested.
        for v in model.weights:
            if v.path.endswith(("bias", "beta", "moving_mean")):
                v.assign(rand(*v.shape, scale=0.1))
            if v.path.endswith(("moving_variance", "gamma")):
                v.assign(1.0 + np.abs(rand(*v.shape, scale=0.2)))
        model.save(os.path.join(OUT, f"keras_{name}.keras"))
        cases.append({"name": name, "file": f"keras_{name}.keras", "params": int(model.count_params()), "x": arr(x), "predictions": arr(model.predict(x, verbose=0))})
    return {"cases": cases}


def _fixed_transform_vjp(make_layer, x, r):
    """The exact r . d(output)/dx of an augmentation layer whose transform is fixed
    (equal factor bounds). TF's registered gradient of ImageProjectiveTransformV3
    (what the tape gives, "grad_x") instead warps r by the inverse transform with the
    same interpolation and fill mode, which is not the adjoint of the sampling."""
    b, h, w, c = x.shape
    n = h * w * c
    layer = make_layer()
    base = np.asarray(layer(np.zeros((1, h, w, c), np.float32), training=True))[0]
    cols = np.asarray(layer(np.eye(n, dtype=np.float32).reshape(n, h, w, c), training=True)) - base
    return np.einsum("nhwc,bhwc->bn", cols.astype(np.float64), r.astype(np.float64)).reshape(b, h, w, c)


def _vision_formulas():
    """Short notes on the formulas, read from the Keras 3 and TF source (checked
    against the values below), plus each layer's constructor defaults and
    get_config() keys, read from Keras itself."""
    import inspect
    notes = {
        "common": "BaseImagePreprocessingLayer.call(data, training=True): training DEFAULTS TO TRUE, so layer(x) outside fit/predict "
                  "augments; fit passes training=True, predict/evaluate training=False. With training=False the random layers return the "
                  "input cast to the compute dtype. Random values come from keras.random.uniform(shape, minval, maxval, seed=SeedGenerator) "
                  "= minval + (maxval - minval) * u, so equal bounds give exactly minval. Images NHWC (channels_last).",
        "affine_transform": "ops.image.affine_transform(images, transform[B,8] or [8]) = tf.raw_ops.ImageProjectiveTransformV3(output_shape=input HxW). "
                            "For output pixel (x=col, y=row), k = c0*x + c1*y + 1 (k == 0 -> fill_value); x_in = (a0*x + a1*y + a2)/k, "
                            "y_in = (b0*x + b1*y + b2)/k, pixel centres at integer coordinates. x_in/y_in are mapped by fill_mode "
                            "(reflect: ...dcba|abcd|dcba..., about -0.5 and len-0.5; wrap: TF's own formula; nearest: clamp to [0, len-1]; constant: "
                            "unchanged) and clamped to [0, len-1] (except constant). nearest interpolation: std::round (half away from zero); "
                            "bilinear: floor/floor+1 neighbours, any neighbour outside [0,len) reads fill_value (so constant mode blends the "
                            "fill value in at the border). fill_mode 'mirror' is rejected by the TF backend. Gradient w.r.t. images (TF): "
                            "the upstream gradient warped by the INVERSE 3x3 matrix (normalised so [2][2]=1), same interpolation and "
                            "fill_mode, fill_value 0 — not the exact adjoint.",
        "RandomRotation": "factor f or (lo, hi) in [-1, 1], fraction of a full turn; single f -> (-|f|, |f|). Per image: angle_deg ~ U(lo*360, hi*360) "
                          "(shape [B]); theta = angle_deg*pi/180. Centre cx = 0.5*(W-1), cy = 0.5*(H-1). transform = [cos, -sin, "
                          "cx - cx*cos + cy*sin, sin, cos, cy - cx*sin - cy*cos, 0, 0] (maps output pixel to input pixel). "
                          "fill_mode in reflect|wrap|constant|nearest (default reflect), interpolation nearest|bilinear (default bilinear).",
        "RandomZoom": "height_factor, width_factor: f or (lo, hi), each in (-1, 1]; single f -> (-|f|, |f|). Per image zy ~ U(1+h_lo, 1+h_hi), "
                      "zx ~ U(1+w_lo, 1+w_hi), or zx = zy (same draw) when width_factor is None. transform = [zx, 0, (W-1)/2*(1-zx), 0, zy, "
                      "(H-1)/2*(1-zy), 0, 0]. Positive factor -> z > 1 -> zoom OUT; negative -> zoom in.",
        "RandomTranslation": "height_factor, width_factor (both required): f or (lo, hi), each in [-1, 1]; single f -> (-|f|, |f|). Per image "
                             "dy = U(h_lo, h_hi)*H, dx = U(w_lo, w_hi)*W (pixels, float). transform = [1, 0, -dx, 0, 1, -dy, 0, 0]: "
                             "content moves right by dx and down by dy.",
        "RandomContrast": "factor f or (lo, hi), bounds [0, 1]; single f -> (max(-f, 0), f) = (0, f) (!), tuple -> sorted. Per image (shape "
                          "[B,1,1,1], shared by channels) c ~ U(1 - lo, 1 + hi), so RandomContrast(0.2) only draws c in [1, 1.2]. "
                          "mean = per image, per channel mean over H and W. out = clip((x - mean)*c + mean, value_range[0], value_range[1]); "
                          "value_range default (0, 255).",
        "RandomBrightness": "factor f or (lo, hi) in [-1, 1]; single f -> (-|f|, |f|), tuple -> sorted. Per image (shape [B,1,1,1], shared by "
                            "channels) delta = U(lo, hi) * (value_range[1] - value_range[0]); out = clip(x + delta, value_range[0], "
                            "value_range[1]); value_range default (0, 255), stored sorted as a list.",
        "GaussianNoise": "training and stddev > 0: out = x + N(0, stddev) elementwise (fresh per element); otherwise identity. call's "
                         "training defaults to False. stddev must be in [0, 1].",
        "GaussianDropout": "training and rate > 0: out = x * N(1, sqrt(rate/(1-rate))) elementwise; otherwise identity. call's training "
                           "defaults to False. rate in [0, 1].",
        "RandomFlip": "mode horizontal | vertical | horizontal_and_vertical (default). Per image u ~ U(0,1), flip iff u <= 0.5; in "
                      "horizontal_and_vertical the SAME draw flips both axes (so an image is either unchanged or rotated 180 degrees).",
        "RandomCrop": "training and H > height and W > width (both strict): h0 = int(U(0, H-height+1)), w0 = int(U(0, W-width+1)) (one "
                      "pair per batch, not per image), out = x[:, h0:h0+height, w0:w0+width]. training otherwise: starts of a centred "
                      "aspect-ratio crop (crop_h = max(min(H, int(W*height/width)), 1), crop_w = max(min(W, int(H*width/height)), 1), "
                      "h0 = int((H-crop_h)/2), w0 = int((W-crop_w)/2)) but the slice is x[:, h0:h0+height, w0:w0+width] (target size, "
                      "truncated at the edges, NOT crop_h x crop_w), then bilinear resize (tf.image.resize) to (height, width) if that "
                      "slice is not already that size. training=False: returns the INPUT UNCHANGED (no crop, shape HxW) although "
                      "compute_output_shape says (height, width).",
        "CenterCrop": "Not random, same in training and inference. If H >= height and W >= width: x[:, (H-height)//2 : +height, (W-width)//2 : "
                      "+width]. Otherwise smart_resize: centre crop to the target aspect ratio (as RandomCrop above) then bilinear resize.",
        "Resizing": "tf.image.resize(method=interpolation, antialias=False): bilinear uses half-pixel centres, src = (dst+0.5)*in/out - 0.5, "
                    "lo = max(floor(src), 0), hi = min(ceil(src), in-1), t = src - floor(src); nearest: src = min(floor((dst+0.5)*in/out), "
                    "in-1). crop_to_aspect_ratio: centre crop as RandomCrop/smart_resize before resizing. pad_to_aspect_ratio: pad_h = "
                    "max(H, int(W*height/width)), pad_w = max(W, int(H*width/height)); top/bottom each get int((pad_h-H)/2) rows of "
                    "fill_value (left/right int((pad_w-W)/2) columns), then resize. Applied in training and inference.",
        "UpSampling2D": "interpolation nearest: repeat rows/cols. bilinear (and others): ops.image.resize to (H*sh, W*sw), i.e. tf.image.resize "
                        "bilinear with half-pixel centres, antialias off.",
        "Rescaling": "out = cast(x) * scale + offset (scale/offset may be arrays, broadcast on the last axis).",
        "Normalization": "axis (default -1) = kept axes; mean/variance broadcast onto them (scalar -> all). out = (x - mean) / max(sqrt(var), "
                         "1e-7); invert=True: mean + x * max(sqrt(var), 1e-7). adapt(ndarray): mean = np.mean(data, reduced axes), variance = "
                         "np.var (population, ddof 0); weights mean, variance, count (count stays 0). axis=None -> scalar mean/variance.",
        "Conv2DTranspose": "kernel shape (kh, kw, filters, in_ch). Output size per dim (k' = (k-1)*d + 1): valid: (I-1)*s + k' + op, op None -> "
                           "max(k', s) - k'; same: op None -> I*s, else (I-1)*s + k'%2 + op. op must be < s; strides > 1 with dilation > 1 "
                           "rejected. Computed by tf.nn.conv_transpose with that output shape, i.e. the gradient of a forward conv from O to I "
                           "with TF padding: valid 0, same pad_total = max((I-1)*s + k' - O, 0), pad_before = pad_total // 2. TF rejects "
                           "same + even kernel + op 0 at call time (forward SAME from O no longer gives I).",
    }
    L = layers
    samples = [L.RandomRotation(0.1), L.RandomZoom(0.1), L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.1), L.RandomBrightness(0.1),
               L.GaussianNoise(0.1), L.GaussianDropout(0.1), L.RandomFlip(), L.RandomCrop(2, 2, seed=1), L.CenterCrop(2, 2),
               L.Resizing(2, 2), L.Rescaling(0.5), L.Normalization(), L.UpSampling2D(), L.Conv2DTranspose(1, 1), L.Conv1DTranspose(1, 1)]
    api = {}
    for layer in samples:
        sig = inspect.signature(type(layer).__init__)
        defaults = {k: (list(v.default) if isinstance(v.default, tuple) else v.default) for k, v in sig.parameters.items()
                    if v.default is not inspect.Parameter.empty and k != "kwargs"}
        required = [k for k, v in sig.parameters.items() if v.default is inspect.Parameter.empty and k not in ("self", "kwargs")]
        api[type(layer).__name__] = {"required": required, "defaults": defaults, "config_keys": sorted(layer.get_config())}
    return notes, api


def vision_fixture():
    """Transposed convolutions, resizing, cropping, rescaling, normalization and the
    affine augmentation layers with fixed parameters (own RNG)."""
    global rng
    rng = np.random.default_rng(777)
    L = layers
    cases, rejected = [], []

    def add(name, make, x, weights=(), training=False):
        layer = make()
        try:
            case = layer_case(name, layer, x, list(weights), training=training)
        except Exception as e:  # noqa: BLE001 -- record what Keras/TF refuse
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).split("Arguments received")[0]
            rejected.append({"name": name, "class_name": type(layer).__name__, "config": layer.get_config(), "x_shape": list(x.shape),
                             "error": f"{type(e).__name__}: {' '.join(text.split())[:400]}"})
            return None
        cases.append(case)
        return case

    # Transposed convolutions: kernel (*k, filters, in_channels).
    x2 = rand(2, 3, 4, 2)
    for name, kw in [("convT2d_k33_s1_valid", dict(kernel_size=(3, 3))),
                     ("convT2d_k33_s1_same", dict(kernel_size=(3, 3), padding="same")),
                     ("convT2d_k33_s1_same_op0", dict(kernel_size=(3, 3), padding="same", output_padding=0)),
                     ("convT2d_k33_s2_valid", dict(kernel_size=(3, 3), strides=2)),
                     ("convT2d_k33_s2_valid_op1", dict(kernel_size=(3, 3), strides=2, output_padding=1)),
                     ("convT2d_k33_s2_same", dict(kernel_size=(3, 3), strides=2, padding="same")),
                     ("convT2d_k33_s2_same_op0", dict(kernel_size=(3, 3), strides=2, padding="same", output_padding=0)),
                     ("convT2d_k33_s2_same_op1", dict(kernel_size=(3, 3), strides=2, padding="same", output_padding=1)),
                     ("convT2d_k23_s1_valid", dict(kernel_size=(2, 3))),
                     ("convT2d_k23_s1_same", dict(kernel_size=(2, 3), padding="same")),
                     ("convT2d_k23_s1_same_op0", dict(kernel_size=(2, 3), padding="same", output_padding=0)),
                     ("convT2d_k23_s2_valid", dict(kernel_size=(2, 3), strides=2)),
                     ("convT2d_k23_s2_valid_op1", dict(kernel_size=(2, 3), strides=2, output_padding=1)),
                     ("convT2d_k23_s2_same", dict(kernel_size=(2, 3), strides=2, padding="same")),
                     ("convT2d_k23_s2_same_op0", dict(kernel_size=(2, 3), strides=2, padding="same", output_padding=0)),
                     ("convT2d_k23_s2_same_op1", dict(kernel_size=(2, 3), strides=2, padding="same", output_padding=1)),
                     ("convT2d_k23_s23_valid", dict(kernel_size=(2, 3), strides=(2, 3))),
                     ("convT2d_k23_s23_valid_op12", dict(kernel_size=(2, 3), strides=(2, 3), output_padding=(1, 2))),
                     ("convT2d_k23_s23_same", dict(kernel_size=(2, 3), strides=(2, 3), padding="same")),
                     ("convT2d_k23_s23_same_op12", dict(kernel_size=(2, 3), strides=(2, 3), padding="same", output_padding=(1, 2))),
                     ("convT2d_k33_s23_same_op10", dict(kernel_size=(3, 3), strides=(2, 3), padding="same", output_padding=(1, 0))),
                     ("convT2d_k33_s2_same_relu", dict(kernel_size=(3, 3), strides=2, padding="same", activation="relu")),
                     ("convT2d_k23_s2_valid_nobias", dict(kernel_size=(2, 3), strides=2, use_bias=False))]:
        kh, kw_ = kw["kernel_size"]
        weights = [rand(kh, kw_, 3, 2)] + ([] if kw.get("use_bias") is False else [rand(3)])
        add(name, lambda kw=kw: L.Conv2DTranspose(3, **kw), x2, weights)
    x1 = rand(2, 5, 2)
    for name, kw in [("convT1d_k3_s1_valid", dict(kernel_size=3)),
                     ("convT1d_k3_s1_same", dict(kernel_size=3, padding="same")),
                     ("convT1d_k3_s2_valid", dict(kernel_size=3, strides=2)),
                     ("convT1d_k3_s2_valid_op1", dict(kernel_size=3, strides=2, output_padding=1)),
                     ("convT1d_k3_s2_same", dict(kernel_size=3, strides=2, padding="same")),
                     ("convT1d_k3_s2_same_op0", dict(kernel_size=3, strides=2, padding="same", output_padding=0)),
                     ("convT1d_k3_s2_same_op1", dict(kernel_size=3, strides=2, padding="same", output_padding=1)),
                     ("convT1d_k2_s1_same", dict(kernel_size=2, padding="same")),
                     ("convT1d_k2_s2_valid", dict(kernel_size=2, strides=2)),
                     ("convT1d_k2_s2_valid_op1", dict(kernel_size=2, strides=2, output_padding=1)),
                     ("convT1d_k2_s2_same", dict(kernel_size=2, strides=2, padding="same")),
                     ("convT1d_k2_s2_same_op0", dict(kernel_size=2, strides=2, padding="same", output_padding=0)),
                     ("convT1d_k2_s2_same_op1", dict(kernel_size=2, strides=2, padding="same", output_padding=1)),
                     ("convT1d_k3_s3_valid", dict(kernel_size=3, strides=3)),
                     ("convT1d_k3_s3_valid_op2", dict(kernel_size=3, strides=3, output_padding=2)),
                     ("convT1d_k3_s3_same", dict(kernel_size=3, strides=3, padding="same")),
                     ("convT1d_k3_s3_same_op2", dict(kernel_size=3, strides=3, padding="same", output_padding=2)),
                     ("convT1d_k2_s3_valid", dict(kernel_size=2, strides=3)),
                     ("convT1d_k2_s3_same", dict(kernel_size=2, strides=3, padding="same")),
                     ("convT1d_k2_s3_same_op1", dict(kernel_size=2, strides=3, padding="same", output_padding=1)),
                     ("convT1d_k3_s2_same_relu", dict(kernel_size=3, strides=2, padding="same", activation="relu")),
                     ("convT1d_k2_s3_valid_nobias", dict(kernel_size=2, strides=3, use_bias=False))]:
        weights = [rand(kw["kernel_size"], 3, 2)] + ([] if kw.get("use_bias") is False else [rand(3)])
        add(name, lambda kw=kw: L.Conv1DTranspose(3, **kw), x1, weights)
    # TF's CPU Conv2DBackpropInput refuses dilation > 1, so these values come from the
    # same layer at dilation 1 with the zero-dilated kernel ((k-1)*d+1 taps), which is
    # what dilation means; config, weights and gradients are the dilated layer's.
    for name, cls, x, kernel_size, kw in [("convT2d_k33_d2_valid", L.Conv2DTranspose, x2, (3, 3), dict()),
                                          ("convT2d_k23_d2_same", L.Conv2DTranspose, x2, (2, 3), dict(padding="same")),
                                          ("convT1d_k3_d2_valid", L.Conv1DTranspose, x1, (3,), dict()),
                                          ("convT1d_k3_d2_same", L.Conv1DTranspose, x1, (3,), dict(padding="same"))]:
        d = 2
        kernel, bias = rand(*kernel_size, 3, x.shape[-1]), rand(3)
        wide = np.zeros(tuple((k - 1) * d + 1 for k in kernel_size) + kernel.shape[-2:], np.float32)
        wide[tuple(slice(None, None, d) for _ in kernel_size)] = kernel
        case = add(name, lambda cls=cls, kw=kw, wide=wide: cls(3, kernel_size=wide.shape[:-2], **kw), x, [wide, bias])
        dilated = cls(3, kernel_size=kernel_size, dilation_rate=d, **kw)
        dilated.build(x.shape)
        gk = np.asarray(case["grad_weights"][0]["data"], np.float32).reshape(wide.shape)
        case.update(config=dilated.get_config(), output_shape=list(dilated.compute_output_shape(x.shape)), weights=[arr(kernel), arr(bias)],
                    weights_after=[arr(kernel), arr(bias)], grad_weights=[arr(gk[tuple(slice(None, None, d) for _ in kernel_size)]), case["grad_weights"][1]],
                    params=int(dilated.count_params()),
                    note="TF CPU refuses dilated transposed convolutions; computed at dilation 1 with the zero-dilated kernel")

    # Upsampling, resizing, cropping, rescaling, normalization.
    img = rand(2, 5, 6, 2)
    add("upsample_bilinear_2", lambda: L.UpSampling2D(2, interpolation="bilinear"), img)
    add("upsample_bilinear_23", lambda: L.UpSampling2D((2, 3), interpolation="bilinear"), img)
    add("upsample_bilinear_32_from_3x5", lambda: L.UpSampling2D((3, 2), interpolation="bilinear"), rand(2, 3, 5, 2))
    for interp in ["bilinear", "nearest"]:
        for h, w in [(8, 4), (3, 9), (10, 12)]:
            add(f"resize_{interp}_{h}x{w}", lambda interp=interp, h=h, w=w: L.Resizing(h, w, interpolation=interp), img)
        for h, w in [(8, 4), (3, 9)]:
            add(f"resize_{interp}_{h}x{w}_crop", lambda interp=interp, h=h, w=w: L.Resizing(h, w, interpolation=interp, crop_to_aspect_ratio=True), img)
    add("resize_bilinear_8x4_pad", lambda: L.Resizing(8, 4, pad_to_aspect_ratio=True, fill_value=0.5), img)
    add("resize_bilinear_3x9_pad", lambda: L.Resizing(3, 9, pad_to_aspect_ratio=True, fill_value=0.5), img)
    for h, w in [(3, 4), (4, 5), (5, 6), (7, 4), (3, 8), (7, 8)]:
        add(f"centercrop_{h}x{w}", lambda h=h, w=w: L.CenterCrop(h, w), img)
    pixels = rng.uniform(0, 255, (2, 5, 6, 2)).astype(np.float32)
    add("rescaling_1_255", lambda: L.Rescaling(1 / 255.0), pixels)
    add("rescaling_2_minus1", lambda: L.Rescaling(2.0, offset=-1.0), rand(2, 5, 6, 2))
    add("normalization_channel", lambda: L.Normalization(mean=[0.5, -0.2], variance=[4.0, 0.25]), img)
    add("normalization_channel_invert", lambda: L.Normalization(mean=[0.5, -0.2], variance=[4.0, 0.25], invert=True), img)
    add("normalization_scalar", lambda: L.Normalization(axis=None, mean=0.3, variance=2.0), img)

    # Augmentation layers with equal factor bounds: training=True is deterministic.
    aug = rng.uniform(0, 1, (2, 5, 6, 2)).astype(np.float32)

    def augment(name, make, training=True, exact=True, x=aug):
        case = add(name, make, x, training=training)
        if case is None or not training:
            return
        out = np.asarray(case["output"]["data"], np.float32)
        layer = make()
        for _ in range(2):  # a fresh layer, called twice: the same values each time
            again = np.asarray(layer(x, training=True), np.float32).reshape(-1)
            assert np.array_equal(again, out), f"{name}: training=True output is not deterministic"
        if exact:
            r = np.asarray(case["r"]["data"], np.float32).reshape(case["r"]["shape"])
            case["grad_x_exact"] = arr(_fixed_transform_vjp(make, x, r))

    fills = [("reflect", 0.0), ("wrap", 0.0), ("constant", 0.5), ("nearest", 0.0)]
    for fill, value in fills:
        for interp in ["bilinear", "nearest"]:
            augment(f"rotation_{fill}_{interp}", lambda fill=fill, value=value, interp=interp:
                    L.RandomRotation((0.1, 0.1), fill_mode=fill, interpolation=interp, fill_value=value))
    augment("rotation_neg_reflect_bilinear", lambda: L.RandomRotation((-0.05, -0.05)))
    augment("rotation_inference", lambda: L.RandomRotation(0.1), training=False)
    for fill, value in fills:
        augment(f"zoom_hw_{fill}_bilinear", lambda fill=fill, value=value:
                L.RandomZoom((-0.2, -0.2), (0.3, 0.3), fill_mode=fill, fill_value=value))
    augment("zoom_hw_constant_nearest", lambda: L.RandomZoom((-0.2, -0.2), (0.3, 0.3), fill_mode="constant", fill_value=0.5, interpolation="nearest"))
    for fill, value in [("reflect", 0.0), ("constant", 0.5)]:
        augment(f"zoom_h_{fill}_bilinear", lambda fill=fill, value=value: L.RandomZoom((0.25, 0.25), fill_mode=fill, fill_value=value))
    augment("zoom_inference", lambda: L.RandomZoom(0.2), training=False)
    for fill, value in fills:
        augment(f"translation_{fill}_bilinear", lambda fill=fill, value=value:
                L.RandomTranslation((0.2, 0.2), (-0.3, -0.3), fill_mode=fill, fill_value=value))
    augment("translation_reflect_nearest", lambda: L.RandomTranslation((0.2, 0.2), (-0.3, -0.3), interpolation="nearest"))
    augment("translation_inference", lambda: L.RandomTranslation(0.2, 0.2), training=False)
    for name, make in [("flip_inference", lambda: L.RandomFlip()),
                       ("contrast_inference", lambda: L.RandomContrast(0.2)),
                       ("brightness_inference", lambda: L.RandomBrightness(0.2)),
                       ("gaussian_noise_inference", lambda: L.GaussianNoise(0.1)),
                       ("gaussian_dropout_inference", lambda: L.GaussianDropout(0.3)),
                       ("randomcrop_inference_returns_input", lambda: L.RandomCrop(3, 4, seed=7))]:
        augment(name, make, training=False)
    # Deterministic training=True cases of the colour and crop layers: (-0.3, 0.3)
    # draws the contrast factor from U(1 + 0.3, 1 + 0.3); a crop that is not smaller
    # in both dimensions takes the centred aspect-ratio path.
    augment("contrast_train_fixed_1p3", lambda: L.RandomContrast((-0.3, 0.3), value_range=(0, 1)), exact=False)
    # RandomBrightness does `images += delta`, which fails on the tf.Variable that
    # layer_case feeds it; the subclass hands it a tensor instead.
    class Brightness(L.RandomBrightness):
        def call(self, data, training=True):
            return super().call(tf.identity(data), training=training)

    augment("brightness_train_fixed_0p1", lambda: Brightness((0.1, 0.1), value_range=(0, 1), name="random_brightness_fixed"), exact=False)
    augment("brightness_train_fixed_neg_0p25_range_255", lambda: Brightness((-0.25, -0.25), name="random_brightness_fixed_255"),
            exact=False, x=aug * 255.0)
    augment("randomcrop_train_5x4_same_height", lambda: L.RandomCrop(5, 4, seed=7), exact=False)
    augment("randomcrop_train_5x8_wider", lambda: L.RandomCrop(5, 8, seed=7), exact=False)
    for case in cases:
        if case["class_name"] == "Brightness":
            case["class_name"] = "RandomBrightness"
        if case["name"] == "randomcrop_inference_returns_input":
            case["note"] = "Keras returns the input unchanged at inference; output_shape is compute_output_shape's (height, width)"

    # ops.image.affine_transform on its own.
    ax = rng.uniform(0, 1, (2, 6, 7, 2)).astype(np.float32)
    h, w = 6, 7
    th = np.deg2rad(20.0)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    c, s = np.cos(th), np.sin(th)
    rot_shift = [c, -s, cx - cx * c + cy * s + 1.0, s, c, cy - cx * s - cy * c - 0.5, 0.0, 0.0]
    zoom_shear = [1.2, 0.3, -1.0, 0.1, 0.8, 0.5, 0.0, 0.0]
    transforms = {"affine": np.array([rot_shift, zoom_shear], np.float32),
                  "projective": np.array([[0.9, 0.1, 0.5, -0.05, 1.1, -0.3, 0.02, -0.03],
                                          [1.1, -0.2, 0.3, 0.15, 0.95, 0.2, -0.04, 0.05]], np.float32)}
    affine, affine_rejected = [], []
    for kind, t in transforms.items():
        for fill in ["constant", "nearest", "wrap", "reflect", "mirror"]:
            for interp in ["nearest", "bilinear"]:
                try:
                    out = keras.ops.image.affine_transform(ax, t, interpolation=interp, fill_mode=fill, fill_value=0.25)
                except ValueError as e:
                    if kind == "affine":
                        affine_rejected.append({"fill_mode": fill, "interpolation": interp, "error": str(e)})
                    continue
                affine.append({"transforms_kind": kind, "fill_mode": fill, "interpolation": interp, "fill_value": 0.25,
                               "x": arr(ax), "transform": arr(t), "output": arr(out)})

    # Normalization.adapt on an array.
    data = (rand(20, 4, 3) * np.array([1.0, 2.0, 0.5], np.float32) + np.array([-1.0, 0.5, 2.0], np.float32)).astype(np.float32)
    new = (rand(2, 4, 3) + 0.5).astype(np.float32)
    adapt = []
    for axis in [-1, None]:
        layer = L.Normalization(axis=axis)
        layer.adapt(data)
        adapt.append({"axis": axis, "data": arr(data), "mean": arr(layer.adapt_mean.numpy()), "variance": arr(layer.adapt_variance.numpy()),
                      "count": int(layer.count.numpy()), "config": layer.get_config(), "x": arr(new), "output": arr(layer(new))})

    notes, api = _vision_formulas()
    return {"cases": cases, "rejected": rejected, "affine": affine, "affine_rejected": affine_rejected,
            "normalization_adapt": adapt, "formulas": notes, "layer_api": api, "embedding": embedding_case()}


def embedding_case():
    """Embedding(7, 3) on int32 ids: the rows looked up, and the table's
    gradient for sum(out * r) (repeated ids add up)."""
    local = np.random.default_rng(779)
    layer = layers.Embedding(7, 3)
    ids = np.array([[0, 6, 2, 2], [5, 1, 0, 2]], dtype=np.int32)
    layer.build(ids.shape)
    table = local.standard_normal((7, 3)).astype(np.float32)
    layer.set_weights([table])
    with tf.GradientTape() as tape:
        out = layer(ids)
        r = tf.constant(local.standard_normal(out.shape).astype(np.float32))
        obj = tf.reduce_sum(out * r)
    grad = tape.gradient(obj, layer.trainable_variables)[0]
    return {"config": layer.get_config(), "ids": ids.tolist(), "table": arr(table), "output": arr(out), "r": arr(r),
            "grad_table": arr(tf.convert_to_tensor(grad))}


def vision_model_fixture():
    """A Sequential model with every augmentation and preprocessing layer and the
    transposed convolution, as Keras writes it (to_json, weights as safetensors
    keyed by variable path), an input batch and Keras's inference predictions:
    `strata predict --config --weights` must give them, and `strata fit` must train it."""
    from safetensors.numpy import save_file
    global rng
    rng = np.random.default_rng(778)
    keras.utils.set_random_seed(9)
    L = layers
    adapted = L.Normalization(name="adapted")
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        L.Rescaling(1.0 / 255.0),
        L.RandomFlip("horizontal"), L.RandomRotation(0.05), L.RandomZoom(0.1), L.RandomTranslation(0.1, 0.1),
        L.RandomContrast(0.2, value_range=(0, 1)), L.RandomBrightness(0.1, value_range=(0, 1)),
        L.GaussianNoise(0.01),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        L.UpSampling2D(2, interpolation="bilinear"),
        L.Resizing(16, 12), L.CenterCrop(14, 10),
        L.Normalization(mean=0.2, variance=0.5), adapted,
        L.GaussianDropout(0.1),
        L.Reshape((14, 30)),
        L.Conv1DTranspose(2, 3, strides=2, padding="same"),
        L.Flatten(), L.Dense(3, activation="softmax"),
    ], name="vision")
    x = rng.uniform(0, 255, (6, 12, 12, 1)).astype(np.float32)
    # Adapt on the activations that reach the layer, so its weights are real.
    upto = keras.Model(model.inputs, model.get_layer("adapted").input)
    adapted.adapt(upto.predict(x, verbose=0))
    for v in model.weights:
        if v.path.endswith("bias"):
            v.assign(rand(*v.shape, scale=0.1))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    with open(os.path.join(OUT, "vision_model_config.json"), "w") as f:
        f.write(model.to_json())
    save_file({v.path: np.asarray(v.numpy(), dtype=np.float32) for v in model.weights}, os.path.join(OUT, "vision_model.safetensors"))
    np.save(os.path.join(OUT, "vision_model_x.npy"), x)
    model.save(os.path.join(OUT, "keras_vision_model.keras"))
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    np.save(os.path.join(OUT, "vision_model_y.npy"), y)
    return {"predictions": arr(model.predict(x, verbose=0)), "params": int(model.count_params()),
            "weights": [v.path for v in model.weights]}


def states_case(layer, x, weights, initial):
    """A recurrent layer given its initial states and returning its final ones: values and gradients of all."""
    layer.build(x.shape)
    layer.set_weights(weights)
    xv, sv = tf.Variable(x), [tf.Variable(s) for s in initial]
    with tf.GradientTape() as tape:
        outs = layer(xv, initial_state=sv)
        rs = [tf.constant(rand(*t.shape)) for t in outs]
        obj = sum(tf.reduce_sum(t * r) for t, r in zip(outs, rs))
    grads = tape.gradient(obj, [xv] + sv + list(layer.trainable_variables))
    case = {"config": layer.get_config(), "x": arr(x), "weights": [arr(v) for v in weights], "weight_paths": [v.path for v in layer.weights],
            "outputs": [arr(t) for t in outs], "r": [arr(r) for r in rs], "grads": [arr(g) for g in grads]}
    case.update({name: arr(v) for name, v in zip(["h0", "c0"], initial)})
    return case


def recurrent_fixture():
    """LSTM cases through the layer harness, and one with initial and returned states."""
    cases = []
    x = rand(2, 5, 3)
    units = 4
    weights = lambda bias=True: [rand(3, 4 * units, scale=0.5), rand(units, 4 * units, scale=0.5)] + ([rand(4 * units, scale=0.5)] if bias else [])
    for name, kw in [("lstm_last", {}), ("lstm_sequences", {"return_sequences": True}),
                     ("lstm_backwards_sequences", {"go_backwards": True, "return_sequences": True}),
                     ("lstm_backwards_no_bias", {"go_backwards": True, "use_bias": False})]:
        cases.append(layer_case(name, layers.LSTM(units, **kw), x, weights(kw.get("use_bias", True))))
    h0, c0 = rand(2, units, scale=0.5), rand(2, units, scale=0.5)
    states = states_case(layers.LSTM(units, return_sequences=True, return_state=True), x, weights(), [h0, c0])
    gru_weights = lambda bias=True: [rand(3, 3 * units, scale=0.5), rand(units, 3 * units, scale=0.5)] + ([rand(2, 3 * units, scale=0.5)] if bias else [])
    for name, kw in [("gru_last", {}), ("gru_backwards_sequences", {"go_backwards": True, "return_sequences": True}),
                     ("gru_no_bias", {"use_bias": False, "return_sequences": True})]:
        cases.append(layer_case(name, layers.GRU(units, **kw), x, gru_weights(kw.get("use_bias", True))))
    gru_states = states_case(layers.GRU(units, return_sequences=True, return_state=True), x, gru_weights(), [h0])
    rnn_weights = lambda bias=True: [rand(3, units, scale=0.5), rand(units, units, scale=0.5)] + ([rand(units, scale=0.5)] if bias else [])
    for name, kw in [("simple_rnn_last", {}), ("simple_rnn_backwards_sequences", {"go_backwards": True, "return_sequences": True}),
                     ("simple_rnn_no_bias", {"use_bias": False})]:
        cases.append(layer_case(name, layers.SimpleRNN(units, **kw), x, rnn_weights(kw.get("use_bias", True))))
    rnn_states = states_case(layers.SimpleRNN(units, return_sequences=True, return_state=True), x, rnn_weights(), [h0])
    # One short fit of each layer, read by Strata from the models' own to_json().
    xs = rand(16, 5, 3)
    ys = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    stacked = keras.Sequential([keras.Input((5, 3)), layers.LSTM(4, return_sequences=True), layers.GRU(3, go_backwards=True), layers.Dense(2, activation="softmax")])
    stacked.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    simple = keras.Sequential([keras.Input((5, 3)), layers.SimpleRNN(4, return_sequences=True), layers.LSTM(2, go_backwards=True), layers.Dense(1)])
    simple.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    fits = [fit_json_case("lstm_gru_adam", stacked, xs, ys, epochs=2), fit_json_case("simple_rnn_lstm_sgd", simple, xs, ys[:, :1], epochs=2)]
    # Sparse cross-entropy with a class per step (a language model's loss), from probabilities and from logits.
    logits = rand(2, 3, 4)
    labels = rng.integers(0, 4, (2, 3)).astype(np.float32)
    sequence_loss = []
    for from_logits in (False, True):
        pred = tf.Variable(logits if from_logits else tf.nn.softmax(logits).numpy())
        with tf.GradientTape() as tape:
            value = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, pred)
        sequence_loss.append({"from_logits": from_logits, "y_pred": arr(pred.numpy()), "y_true": arr(labels), "loss": float(value), "grad": arr(tape.gradient(value, pred))})
    # reset_after=False (Keras 2's GRU): one bias of 3 * units; drawn last, so the cases above keep their values.
    v1_weights = lambda bias=True: [rand(3, 3 * units, scale=0.5), rand(units, 3 * units, scale=0.5)] + ([rand(3 * units, scale=0.5)] if bias else [])
    for name, kw in [("gru_reset_before_last", {}), ("gru_reset_before_backwards_sequences", {"go_backwards": True, "return_sequences": True}),
                     ("gru_reset_before_no_bias", {"use_bias": False, "return_sequences": True})]:
        cases.append(layer_case(name, layers.GRU(units, reset_after=False, **kw), x, v1_weights(kw.get("use_bias", True))))
    v1_states = states_case(layers.GRU(units, reset_after=False, return_sequences=True, return_state=True), x, v1_weights(), [h0])
    v1 = keras.Sequential([keras.Input((5, 3)), layers.GRU(4, reset_after=False, return_sequences=True), layers.GRU(3, reset_after=False), layers.Dense(2, activation="softmax")])
    v1.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    fits.append(fit_json_case("gru_reset_before_adam", v1, xs, ys, epochs=2))
    return {"cases": cases, "states": states, "gru_states": gru_states, "simple_rnn_states": rnn_states, "gru_reset_before_states": v1_states, "fits": fits, "sequence_loss": sequence_loss}


def recurrent_dropout_fixture():
    """Keras 3's recurrent dropout in training, with masks fixed by replacing the cell's mask maker.

    With recurrent_dropout, Keras 3 runs its per-gate cell (implementation=1): one mask per gate
    of each kind (SimpleRNN has one of each). Recorded as [gates, batch, n] beside each case."""
    cases = []
    x, units = rand(2, 5, 3), 4
    gates_of = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
    for name, make in [("lstm_both", lambda: layers.LSTM(units, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)),
                       ("lstm_recurrent_only", lambda: layers.LSTM(units, recurrent_dropout=0.5, return_sequences=True)),
                       ("gru_both", lambda: layers.GRU(units, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)),
                       ("gru_reset_before_both", lambda: layers.GRU(units, reset_after=False, dropout=0.3, recurrent_dropout=0.4, return_sequences=True)),
                       ("simple_rnn_both", lambda: layers.SimpleRNN(units, dropout=0.3, recurrent_dropout=0.4, return_sequences=True))]:
        layer = make()
        cell, gates = layer.cell, gates_of[type(layer).__name__]
        masks = {}
        for kind, rate, n in [("input_masks", cell.dropout, x.shape[2]), ("state_masks", cell.recurrent_dropout, units)]:
            if rate > 0:
                masks[kind] = ((rng.uniform(size=(gates, x.shape[0], n)) >= rate) / (1.0 - rate)).astype(np.float32)

        def fixed(step_input, rate, masks=masks, count=getattr(cell, "dropout_mask_count", None)):
            m = masks["input_masks" if step_input.shape[-1] == x.shape[2] else "state_masks"]
            return [tf.constant(g) for g in m] if count else tf.constant(m[0])
        cell._create_dropout_mask = fixed
        weights = [rand(*w.shape, scale=0.5) for w in (layer.build(x.shape) or layer.weights)]
        case = layer_case(name, layer, x, weights, training=True)
        case.update({kind: arr(m) for kind, m in masks.items()})
        cases.append(case)
    return {"cases": cases}


def audio_fixture():
    """STFTSpectrogram (every mode; its kernels as Keras initialises them) and
    MelSpectrogram through the layer harness, and short fits of models that
    start with each, from their to_json()."""
    cases = []
    x = rand(2, 40, 2, scale=0.5)
    for name, kw in [("stft_log", {"frame_length": 16}),
                     ("stft_magnitude_hamming_same", {"mode": "magnitude", "frame_length": 12, "frame_step": 5, "fft_length": 32, "window": "hamming", "periodic": True, "padding": "same"}),
                     ("stft_psd_blackman_spectrum", {"mode": "psd", "frame_length": 10, "window": "blackman", "scaling": "spectrum"}),
                     ("stft_real_boxcar_expand", {"mode": "real", "frame_length": 8, "window": None, "scaling": None, "expand_dims": True}),
                     ("stft_imag_same", {"mode": "imag", "frame_length": 9, "frame_step": 7, "padding": "same"}),
                     ("stft_both_periodic", {"mode": "stft", "frame_length": 16, "frame_step": 4, "periodic": True})]:
        probe = layers.STFTSpectrogram(**kw)
        probe.build(x.shape)
        cases.append(layer_case(name, layers.STFTSpectrogram(**kw), x, probe.get_weights()))
    signal = rand(2, 300, scale=0.3)
    signal[1, 150:] = 0.0  # silence: decibels clipped at top_db below the batch's largest value
    for name, kw in [("mel_db", {"fft_length": 64, "sequence_stride": 16, "sampling_rate": 8000, "num_mel_bins": 12}),
                     ("mel_power_hamming", {"fft_length": 64, "sequence_stride": 20, "sequence_length": 40, "window": "hamming", "sampling_rate": 8000, "num_mel_bins": 10, "min_freq": 100.0, "max_freq": 3000, "power_to_db": False}),
                     ("mel_magnitude_no_window", {"fft_length": 32, "sequence_stride": 8, "window": None, "sampling_rate": 16000, "num_mel_bins": 8, "mag_exp": 1.0, "ref_power": 2.0, "top_db": 20.0}),
                     ("mel_top_db", {"fft_length": 64, "sequence_stride": 32, "sampling_rate": 8000, "num_mel_bins": 16, "top_db": 30.0})]:
        cases.append(layer_case(name, layers.MelSpectrogram(**kw), signal, []))
    # Short fits: a mel front end before a small convolutional classifier, and a trainable STFT.
    waves = rand(24, 400, scale=0.3)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    mel = keras.Sequential([keras.Input((400,)), layers.MelSpectrogram(fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=16),
                            layers.Rescaling(0.05), layers.Permute((2, 1)), layers.Conv1D(4, 3, activation="relu"), layers.GlobalAveragePooling1D(),
                            layers.Dense(3, activation="softmax")])
    mel.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    stft = keras.Sequential([keras.Input((400, 1)), layers.STFTSpectrogram(frame_length=32, frame_step=16, mode="magnitude"),
                             layers.GlobalAveragePooling1D(), layers.Dense(3, activation="softmax")])
    stft.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    fits = [fit_json_case("mel_conv1d_adam", mel, waves, labels, epochs=2), fit_json_case("stft_trainable_sgd", stft, waves[..., None], labels, epochs=2)]
    return {"cases": cases, "fits": fits}


TEXT_CORPUS = [
    "The cat sat on the mat. The cat, the DOG!",
    "A dog? A dog; and a cat... and [UNK] twice [UNK]",
    "Caf\u00e9 \u00c9T\u00c9 stra\u00dfe  na\u00efve\tTAB\nnew-line",
    "  leading and   trailing   spaces  ",
    "nbsp\u00a0inside em\u2003space 12 12 3.5 don't",
    "emoji \U0001f600 and \u4e2d\u6587 characters zz yy xx ww",
    "",
    "!!! ... ???",
]
TEXT_PROBES = ["the cat and the unseen word", "", "A DOG, a cat; \u00c9T\u00c9", "zz zz zz xx qq", "!!!", "emoji \U0001f600 \u4e2d"]


def text_case(name, kw, adapt=True, probes=TEXT_PROBES):
    """A TextVectorization layer: its config before adapt, the vocabulary (and
    idf weights) adapt learns from TEXT_CORPUS, and its outputs on TEXT_PROBES."""
    layer = layers.TextVectorization(**kw)
    config = layer.get_config()
    if adapt:
        layer.adapt(tf.constant(TEXT_CORPUS))
    # Unsplit strings are one token each: Keras wants them as a column, (batch, 1).
    out = layer(tf.constant([[p] for p in probes] if "split" in kw and kw["split"] is None else probes))
    out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    case = {"name": name, "config": config, "adapted": adapt, "vocabulary": [str(t) for t in layer.get_vocabulary()],
            "vocabulary_size": int(layer.vocabulary_size()), "probes": probes,
            "output": {"shape": list(out.shape), "data": [float(v) for v in out.reshape(-1)]}}
    if kw.get("output_mode") in ("tf_idf", "tf-idf"):
        case["idf_weights"] = [float(v) for v in layer._lookup_layer.idf_weights.numpy()]
    return case


def text_fixture():
    """TextVectorization as Keras 3 computes it: adapt's vocabulary (by count,
    ties in reverse byte order, max_tokens counting the special tokens),
    standardize (ASCII lower-casing, ASCII punctuation), split (whitespace,
    characters, none), ngrams, every output_mode and pad_to_max_tokens; and
    layers given a vocabulary (with or without the special tokens)."""
    cases = [
        text_case("default", {}),
        text_case("int_max_tokens_length", {"max_tokens": 8, "output_sequence_length": 6}),
        text_case("characters_lower", {"standardize": "lower", "split": "character", "output_sequence_length": 12}),
        text_case("characters_raw", {"standardize": None, "split": "character"}),
        text_case("bigrams_multi_hot", {"standardize": None, "ngrams": 2, "output_mode": "multi_hot"}),
        text_case("count_padded", {"max_tokens": 10, "output_mode": "count", "pad_to_max_tokens": True}),
        text_case("tf_idf_ngrams", {"ngrams": (1, 3), "output_mode": "tf_idf"}),
        text_case("tf_idf_padded", {"max_tokens": 30, "output_mode": "tf_idf", "pad_to_max_tokens": True}),
        text_case("strip_only_unsplit", {"standardize": "strip_punctuation", "split": None, "output_mode": "multi_hot"}),
        text_case("unsplit_int", {"standardize": "lower", "split": None, "output_sequence_length": 1}),
        text_case("given_vocabulary", {"vocabulary": ["cat", "the", "dog", "a"], "output_sequence_length": 5}, adapt=False),
        text_case("given_with_specials", {"vocabulary": ["", "[UNK]", "zz", "xx"]}, adapt=False),
        text_case("given_specials_multi_hot", {"vocabulary": ["[UNK]", "zz", "xx"], "output_mode": "multi_hot"}, adapt=False),
        text_case("given_idf", {"vocabulary": ["cat", "the", "dog"], "idf_weights": [0.5, 0.25, 2.0], "output_mode": "tf_idf"}, adapt=False),
    ]
    # Models that take strings: a Sequential saved as .keras (the adapted vocabulary
    # travels in its assets, tf-idf weights in model.weights.h5), and a functional
    # one as to_json(), which leaves an adapted vocabulary out.
    keras.utils.set_random_seed(9)
    models = []
    for name, vec, head in [("int", layers.TextVectorization(max_tokens=30, output_sequence_length=6), [layers.Embedding(30, 4), layers.GlobalAveragePooling1D()]),
                            ("tf_idf", layers.TextVectorization(max_tokens=25, output_mode="tf_idf"), [])]:
        vec.adapt(tf.constant(TEXT_CORPUS))
        model = keras.Sequential([keras.Input((1,), dtype="string"), vec, *head, layers.Dense(3, activation="softmax")], name=f"text_{name}")
        file = f"keras_text_{name}.keras"
        model.save(os.path.join(OUT, file))
        models.append({"name": name, "file": file, "probes": TEXT_PROBES, "predictions": arr(model.predict(tf.constant([[p] for p in TEXT_PROBES]), verbose=0))})
    x = keras.Input((), dtype="string", name="text")
    vec = layers.TextVectorization(max_tokens=30, output_sequence_length=5, name="words")
    vec.adapt(tf.constant(TEXT_CORPUS))
    ids = vec(tf.constant(TEXT_PROBES))
    functional = keras.Model(x, layers.Dense(2)(layers.Flatten()(layers.Embedding(30, 3)(vec(x)))))
    weights = {v.path: arr(v.numpy()) for v in functional.weights}
    models.append({"name": "functional_json", "json": functional.to_json(), "weights": weights, "ids": arr(ids.numpy()),
                   "predictions": arr(functional.predict(tf.constant(TEXT_PROBES), verbose=0))})
    return {"cases": cases, "corpus": TEXT_CORPUS, "models": models}


def multi_case(name, layer, x, initial=None):
    """A layer with several outputs (or initial states): values, and the
    gradients of sum(output_i * r_i) over all outputs with respect to the
    input, the states and every trainable weight."""
    layer(x, initial_state=initial) if initial is not None else layer(x)  # builds it
    xv, sv = tf.Variable(x), [tf.Variable(s) for s in (initial or [])]
    with tf.GradientTape() as tape:
        outs = layer(xv, initial_state=sv) if initial is not None else layer(xv)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        rs = [tf.constant(rand(*t.shape)) for t in outs]
        obj = sum(tf.reduce_sum(t * r) for t, r in zip(outs, rs))
    grads = tape.gradient(obj, [xv] + sv + list(layer.trainable_variables))
    return {"name": name, "class_name": type(layer).__name__, "config": layer.get_config(), "x": arr(x), "initial": [arr(v) for v in (initial or [])],
            "weights": [arr(v) for v in layer.get_weights()], "weight_paths": [v.path for v in layer.weights],
            "outputs": [arr(t) for t in outs], "r": [arr(r) for r in rs], "grads": [arr(g) for g in grads]}


def wrappers_fixture():
    """Bidirectional (every merge mode, LSTM, GRU and SimpleRNN, returned and
    initial states) and TimeDistributed, and short fits of models with them
    read from their to_json()."""
    keras.utils.set_random_seed(11)
    x = rand(2, 5, 3)
    states = lambda n: [rand(2, 4, scale=0.5) for _ in range(n)]
    cases = [
        multi_case("bi_lstm_concat_sequences", layers.Bidirectional(layers.LSTM(4, return_sequences=True)), x),
        multi_case("bi_gru_sum_last", layers.Bidirectional(layers.GRU(4), merge_mode="sum"), x),
        multi_case("bi_rnn_ave_sequences", layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True), merge_mode="ave"), x),
        multi_case("bi_lstm_mul_last", layers.Bidirectional(layers.LSTM(4), merge_mode="mul"), x),
        multi_case("bi_gru_none_states", layers.Bidirectional(layers.GRU(4, return_sequences=True, return_state=True), merge_mode=None), x),
        multi_case("bi_lstm_initial_states", layers.Bidirectional(layers.LSTM(4, return_state=True)), x, states(4)),
        multi_case("bi_given_backward", layers.Bidirectional(layers.GRU(4, return_sequences=True), backward_layer=layers.SimpleRNN(4, return_sequences=True, go_backwards=True)), x),
        multi_case("time_distributed_dense", layers.TimeDistributed(layers.Dense(3, activation="relu")), x),
        multi_case("time_distributed_conv1d", layers.TimeDistributed(layers.Conv1D(2, 3, activation="tanh")), rand(2, 4, 6, 3)),
    ]
    xs = rand(16, 5, 3)
    ys = np.eye(2, dtype=np.float32)[rng.integers(0, 2, (16, 5))]
    tagger = keras.Sequential([keras.Input((5, 3)), layers.Bidirectional(layers.LSTM(4, return_sequences=True)), layers.TimeDistributed(layers.Dense(2, activation="softmax"))])
    tagger.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    pooled = keras.Sequential([keras.Input((5, 3)), layers.Bidirectional(layers.GRU(3), merge_mode="sum"), layers.Dense(1)])
    pooled.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    fits = [fit_json_case("bi_lstm_time_distributed_adam", tagger, xs, ys, epochs=2), fit_json_case("bi_gru_sum_sgd", pooled, xs, ys[:, 0, :1], epochs=2)]
    # A .keras file whose layers keep their weights in inner groups (cell/, forward_layer/cell/, layer/, query_dense/, ...).
    seq = keras.Input((5, 6), name="steps")
    h = layers.LSTM(4, return_sequences=True)(seq)
    h = layers.Bidirectional(layers.GRU(3, return_sequences=True, reset_after=False))(h)
    h = layers.TimeDistributed(layers.Dense(6))(h)
    h = layers.MultiHeadAttention(2, 3)(h, h, use_causal_mask=True)
    nested = keras.Model(seq, layers.SimpleRNN(2)(h), name="sequence_layers")
    for v in nested.weights:
        if v.path.endswith("bias"):
            v.assign(rand(*v.shape, scale=0.1))
    nested.save(os.path.join(OUT, "keras_sequence_layers.keras"))
    xk = rand(3, 5, 6)
    keras_file = {"file": "keras_sequence_layers.keras", "x": arr(xk), "predictions": arr(nested.predict(xk, verbose=0)), "params": int(nested.count_params())}
    return {"cases": cases, "fits": fits, "keras_file": keras_file}


def attention_case(name, layer, query, value, key=None, mask=None, causal=False, scores=False):
    """MultiHeadAttention called as Keras users call it; the inputs listed in
    Strata's order (query, value, key, mask) with the flags that order needs,
    values, and gradients for the float inputs and every weight."""
    kwargs = {"use_causal_mask": causal, "return_attention_scores": scores}
    floats_in = [tf.Variable(query), tf.Variable(value)] + ([tf.Variable(key)] if key is not None else [])
    call = lambda q, v, k=None: layer(q, v, key=k, attention_mask=None if mask is None else tf.constant(mask), **kwargs)
    call(*floats_in)
    with tf.GradientTape() as tape:
        outs = call(*floats_in)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        rs = [tf.constant(rand(*t.shape)) for t in outs]
        obj = sum(tf.reduce_sum(t * r) for t, r in zip(outs, rs))
    grads = tape.gradient(obj, floats_in + list(layer.trainable_variables))
    inputs = [query, value] + ([key] if key is not None else []) + ([mask.astype(np.float32)] if mask is not None else [])
    return {"name": name, "class_name": "MultiHeadAttention", "config": layer.get_config(), "inputs": [arr(x) for x in inputs],
            "flags": {"key_input": key is not None, "mask_input": mask is not None, "use_causal_mask": causal, "return_attention_scores": scores},
            "weights": [arr(v) for v in layer.get_weights()], "weight_paths": [v.path for v in layer.weights],
            "outputs": [arr(t) for t in outs], "r": [arr(r) for r in rs], "grads": [arr(g) for g in grads]}


def attention_fixture():
    """MultiHeadAttention: self- and cross-attention, a separate key, value_dim
    and output_shape, no biases, padding masks (one query step fully masked),
    the causal mask alone and with a padding mask, attention scores returned;
    and one-epoch fits of functional models with it, from their to_json()."""
    keras.utils.set_random_seed(13)
    x, v, k = rand(2, 4, 6), rand(2, 5, 3), rand(2, 5, 4)
    lengths = [5, 3]
    padding = np.array([[[1 if j < n else 0 for j in range(5)] for _ in range(4)] for n in lengths], dtype=bool)
    padding[1, 2, :] = False  # a query step that may attend to nothing
    square = np.array([[[1 if j < n else 0 for j in range(4)] for _ in range(4)] for n in (4, 2)], dtype=bool)
    cases = [
        attention_case("self_attention", layers.MultiHeadAttention(2, 3), x, x),
        attention_case("cross_key_value_dim_output", layers.MultiHeadAttention(3, 2, value_dim=4, output_shape=7, use_bias=False), x, v, key=k),
        attention_case("padding_mask", layers.MultiHeadAttention(2, 3), x, v, mask=padding),
        attention_case("causal_scores", layers.MultiHeadAttention(2, 4), x, x, causal=True, scores=True),
        attention_case("causal_and_padding", layers.MultiHeadAttention(1, 5), x, x, mask=square, causal=True),
    ]
    models = []
    seq = keras.Input((5, 6), name="tokens")
    attended = layers.MultiHeadAttention(2, 4, name="self_attention")(seq, seq, use_causal_mask=True)
    out = layers.Dense(2, activation="softmax", name="head")(layers.GlobalAveragePooling1D()(layers.Add()([seq, attended])))
    causal = keras.Model(seq, out, name="causal_attention")
    # The key bias's gradient is zero in exact arithmetic (a softmax ignores a constant added to
    # every score), so Adam would scale rounding noise into full steps: SGD keeps the comparison exact.
    causal.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
    xs = rand(16, 5, 6)
    ys = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]
    models.append(functional_fit_case("causal_attention", causal, {"tokens": xs}, {"head": ys}))
    q_in, c_in, m_in = keras.Input((4, 6), name="q"), keras.Input((5, 3), name="context"), keras.Input((4, 5), dtype="bool", name="mask")
    crossed = layers.MultiHeadAttention(2, 3, value_dim=2, name="cross")(q_in, c_in, attention_mask=m_in)
    cross = keras.Model([q_in, c_in, m_in], layers.Dense(1, name="out")(layers.Flatten()(crossed)), name="masked_cross_attention")
    cross.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    masks = rng.integers(0, 2, (16, 4, 5)).astype(bool)
    masks[:, :, 0] = True
    models.append(functional_fit_case("masked_cross_attention", cross, {"q": rand(16, 4, 6), "context": rand(16, 5, 3), "mask": masks.astype(np.float32)}, {"out": rand(16, 1)}))
    return {"cases": cases, "models": models}


def padded_ids(n, steps, vocab, pre=False, gaps=False, empty=True):
    """Token ids 1..vocab-1 with padding 0: random lengths (one sequence with
    none; with `empty`, one all padding), at the end (or, with `pre`, at the
    start), and with `gaps`, some zeros inside too (never the first step)."""
    ids = rng.integers(1, vocab, (n, steps))
    lengths = rng.integers(1, steps + 1, n)
    lengths[0], lengths[1] = (0 if empty else 1), steps
    for i, k in enumerate(lengths):
        if pre:
            ids[i, :steps - k] = 0
        else:
            ids[i, k:] = 0
    if gaps:
        ids[:, 1:][rng.random((n, steps - 1)) < 0.2] = 0
    return ids.astype(np.int32)


def seeded_fit_cases(seed, keras_seed):
    """Fresh random streams (numpy's and Keras's) for a fixture of one-epoch
    fits: its list of cases, and a function that compiles a functional model
    and appends its case to the list."""
    global rng
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(keras_seed)
    models = []

    def case(name, inputs, outputs, loss, x, y, optimizer, metrics=("accuracy",)):
        model = keras.Model(inputs, outputs, name=name)
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
        models.append(functional_fit_case(name, model, x, y))
    return models, case


def masking_fixture():
    """Masks as Keras carries them: Embedding(mask_zero) and Masking, through
    the recurrent layers (padding at the end, at the start and inside;
    go_backwards, returned states), every Bidirectional merge mode, merges,
    GlobalAveragePooling1D and attention, into masked losses and metrics:
    one epoch of each model from its to_json(), as the functional fits.
    (SGD throughout: Keras's TF backend updates embeddings with sparse Adam
    steps, a rule of its own that the embedding fixtures leave aside.)"""
    models, case = seeded_fit_cases(4321, 17)
    L = layers
    n, steps, vocab = 16, 6, 9

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 4, mask_zero=True)(tokens)
    tags = L.Dense(3, activation="softmax", name="tags")(L.LSTM(5, return_sequences=True)(h))
    ids = padded_ids(n, steps, vocab)
    case("lstm_tagger_post_padding", tokens, tags, "sparse_categorical_crossentropy", {"tokens": ids}, {"tags": rng.integers(0, 3, (n, steps)).astype(np.float32)}, keras.optimizers.SGD(0.5))

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 3, mask_zero=True)(tokens)
    out = L.Dense(1, name="score")(L.GRU(4)(h))
    case("gru_last_pre_padding", tokens, out, "mse", {"tokens": padded_ids(n, steps, vocab, pre=True)}, {"score": rand(n, 1)}, keras.optimizers.SGD(0.1), metrics=("mae",))

    series = keras.Input((steps, 3), name="series")
    seq, state = L.SimpleRNN(4, return_sequences=True, return_state=True, go_backwards=True)(L.Masking(0.0)(series))
    per_step, final = L.Dense(2, name="per_step")(seq), L.Dense(1, name="final")(state)
    xs = rand(n, steps, 3)
    xs[rng.random((n, steps)) < 0.3] = 0.0
    xs[0] = 0.0
    model = keras.Model(series, [per_step, final], name="rnn_backwards_states_gaps")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss={"per_step": "mse", "final": "mse"})
    models.append(functional_fit_case("rnn_backwards_states_gaps", model, {"series": xs}, {"per_step": rand(n, steps, 2), "final": rand(n, 1)}))

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 4, mask_zero=True)(tokens)
    h = L.Bidirectional(L.LSTM(3, return_sequences=True))(h)
    h = L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False), merge_mode="sum")(h)
    out = L.Dense(2, activation="softmax", name="label")(L.GlobalAveragePooling1D()(h))
    labels = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    case("bidirectional_concat_sum_pooled", tokens, out, "categorical_crossentropy", {"tokens": padded_ids(n, steps, vocab, gaps=True, empty=False)}, {"label": labels}, keras.optimizers.SGD(0.5))

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 4, mask_zero=True)(tokens)
    h = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave")(h)
    out = L.Dense(1, activation="sigmoid", name="label")(L.Bidirectional(L.LSTM(3), merge_mode="mul")(h))
    case("bidirectional_ave_mul", tokens, out, "binary_crossentropy", {"tokens": padded_ids(n, steps, vocab, pre=True)}, {"label": labels[:, :1]}, keras.optimizers.SGD(0.2))

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 4, mask_zero=True)(tokens)
    forward, backward = L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode=None)(h)
    tags = L.Dense(2, activation="softmax", name="tags")(L.Add()([forward, backward]))
    case("bidirectional_none_add", tokens, tags, "sparse_categorical_crossentropy", {"tokens": padded_ids(n, steps, vocab)}, {"tags": rng.integers(0, 2, (n, steps)).astype(np.float32)}, keras.optimizers.SGD(0.2))

    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.Embedding(vocab, 6, mask_zero=True)(tokens)
    a = L.MultiHeadAttention(2, 3, name="self_attention")(h, h)
    c = L.MultiHeadAttention(1, 4, name="causal")(a, a, use_causal_mask=True)
    out = L.Dense(2, activation="softmax", name="label")(L.GlobalAveragePooling1D()(L.LayerNormalization()(L.Add()([h, c]))))
    case("attention_padding_and_causal", tokens, out, "categorical_crossentropy", {"tokens": padded_ids(n, steps, vocab, empty=False)}, {"label": labels}, keras.optimizers.SGD(0.1, momentum=0.9))

    tokens, extra = keras.Input((steps,), dtype="int32", name="tokens"), keras.Input((steps, 2), name="extra")
    masked = L.Embedding(vocab, 3, mask_zero=True)(tokens)
    joined = L.Concatenate()([masked, L.Dense(2)(extra)])
    tags = L.Dense(2, activation="softmax", name="tags")(L.LSTM(3, return_sequences=True)(L.Dropout(0.0)(masked)))
    both = L.Dense(1, name="both")(L.LSTM(2)(joined))
    model = keras.Model([tokens, extra], [tags, both], name="concatenate_and_dropout")
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss={"tags": "sparse_categorical_crossentropy", "both": "mse"}, metrics={"tags": ["accuracy"]})
    models.append(functional_fit_case("concatenate_and_dropout", model, {"tokens": padded_ids(n, steps, vocab), "extra": rand(n, steps, 2)},
                                      {"tags": rng.integers(0, 2, (n, steps)).astype(np.float32), "both": rand(n, 1)}))
    return {"models": models}


def masked_layers_fixture():
    """Keras's masked values in Multiply, Maximum and Minimum (masked and
    unmasked inputs together) and a training BatchNormalization's moments
    over the kept steps only: one epoch of each model from its to_json()."""
    models, case = seeded_fit_cases(2468, 19)
    L = layers
    n, steps, vocab = 16, 6, 9

    # Multiply of two masked branches, then of a masked and an unmasked input.
    tokens, extra = keras.Input((steps,), dtype="int32", name="tokens"), keras.Input((steps, 4), name="extra")
    h = L.Embedding(vocab, 4, mask_zero=True)(tokens)
    both = L.Multiply()([L.Dense(4, activation="tanh")(h), L.Dense(4)(h)])
    mixed = L.Multiply()([both, extra])
    tags = L.Dense(3, activation="softmax", name="tags")(L.LSTM(5, return_sequences=True)(mixed))
    case("multiply_masked_and_not", [tokens, extra], tags, "sparse_categorical_crossentropy",
         {"tokens": padded_ids(n, steps, vocab, gaps=True), "extra": rand(n, steps, 4)}, {"tags": rng.integers(0, 3, (n, steps)).astype(np.float32)}, keras.optimizers.SGD(0.5))

    # Maximum of two differently masked inputs (three inputs), Minimum of a masked and an unmasked one.
    a, b = keras.Input((steps,), dtype="int32", name="a"), keras.Input((steps,), dtype="int32", name="b")
    series = keras.Input((steps, 4), name="series")
    ea, eb = L.Embedding(vocab, 4, mask_zero=True)(a), L.Embedding(vocab, 4, mask_zero=True)(b)
    top = L.Maximum()([ea, eb, L.Embedding(vocab, 4, mask_zero=True)(a)])
    low = L.Minimum()([L.Dense(4)(top), series])
    out = L.Dense(2, activation="softmax", name="label")(L.GlobalAveragePooling1D()(L.Concatenate()([top, L.Minimum()([eb, ea])])))
    score = L.Dense(1, name="score")(L.GRU(3)(low))
    model = keras.Model([a, b, series], [out, score], name="maximum_minimum")
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss={"label": "categorical_crossentropy", "score": "mse"}, metrics={"label": ["accuracy"]})
    models.append(functional_fit_case("maximum_minimum", model,
                                      {"a": padded_ids(n, steps, vocab, empty=False), "b": padded_ids(n, steps, vocab, pre=True, empty=False), "series": rand(n, steps, 4)},
                                      {"label": np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)], "score": rand(n, 1)}))

    # BatchNormalization in training on a masked sequence: moments over the kept steps.
    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    h = L.BatchNormalization(momentum=0.8)(L.Embedding(vocab, 4, mask_zero=True)(tokens))
    h = L.BatchNormalization()(L.Dense(3)(h))
    tags = L.Dense(2, activation="softmax", name="tags")(L.SimpleRNN(4, return_sequences=True)(h))
    case("batch_normalization_masked", tokens, tags, "sparse_categorical_crossentropy",
         {"tokens": padded_ids(n, steps, vocab, gaps=True)}, {"tags": rng.integers(0, 2, (n, steps)).astype(np.float32)}, keras.optimizers.SGD(0.3))

    # Masks across nested models' boundaries: into one Sequential block, and out of another.
    # (Sequential blocks: Keras keys a nested functional model's variables without its name.)
    tokens = keras.Input((steps,), dtype="int32", name="tokens")
    block = keras.Sequential([keras.Input((steps, 4)), L.LSTM(5, return_sequences=True), L.Dense(3)], name="block")
    tags = L.Dense(2, activation="softmax", name="tags")(block(L.Embedding(vocab, 4, mask_zero=True)(tokens)))
    embedder = keras.Sequential([keras.Input((steps,), dtype="int32"), L.Embedding(vocab, 4, mask_zero=True), L.Dense(4)], name="embedder")
    score = L.Dense(1, name="score")(L.GRU(3)(embedder(tokens)))
    model = keras.Model(tokens, [tags, score], name="nested_masks")
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss={"tags": "sparse_categorical_crossentropy", "score": "mse"}, metrics={"tags": ["accuracy"]})
    models.append(functional_fit_case("nested_masks", model, {"tokens": padded_ids(n, steps, vocab)},
                                      {"tags": rng.integers(0, 2, (n, steps)).astype(np.float32), "score": rand(n, 1)}))
    return {"models": models}


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"keras": keras.__version__, "tensorflow": tf.__version__, "script": "tools/keras_fixtures.py"}
    for name, make in [("layers", layers_fixture), ("activations", activations_fixture), ("losses", losses_fixture),
                       ("optimizers", optimizers_fixture), ("fit", fit_fixture), ("metrics", metrics_fixture), ("headline", keras_model_fixture),
                       ("layers_extra", layers_extra_fixture), ("fit_extra", fit_extra_fixture), ("functional", functional_fixture),
                       ("files", keras_files_fixture), ("vision", vision_fixture),
                       ("vision_model", vision_model_fixture), ("recurrent", recurrent_fixture), ("audio", audio_fixture),
                       ("text", text_fixture), ("wrappers", wrappers_fixture),
                       ("attention", attention_fixture), ("masking", masking_fixture),
                       ("recurrent_dropout", recurrent_dropout_fixture), ("masked_layers", masked_layers_fixture)]:
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        data = make()
        data["generated_by"] = meta
        path = os.path.join(OUT, f"keras_{name}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(path + ".tmp", path)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
