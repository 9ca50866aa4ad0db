#!/usr/bin/env python3
"""Checks that Keras reads what Strata writes: each model config written by
the functional tests, compared with the Keras model it came from (layers,
parameter count, and predictions with the same weights), and each `.keras`
file written by the `.keras` tests, opened with `keras.models.load_model` and
compared with Keras's predictions of the model it was read from.

    mkdir -p /tmp/strata-configs
    STRATA_WRITE_CONFIGS=/tmp/strata-configs cargo test --release -p strata --test functional_tests
    STRATA_WRITE_KERAS=/tmp/strata-configs cargo test --release -p strata --test keras_file_tests
    python3 tools/check_keras_reads.py /tmp/strata-configs
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = [os.path.join(HERE, "..", "crates", "strata", "tests", "fixtures", f) for f in ("keras_functional.json", "keras_attention.json")]
FILES = os.path.join(HERE, "..", "crates", "strata", "tests", "fixtures", "keras_files.json")


def check_keras_files(folder):
    for case in json.load(open(FILES))["cases"]:
        written = [f for f in os.listdir(folder) if f.startswith(f"strata-{case['name']}-") and f.endswith(".keras")]
        if not written:
            print(f"{case['name']}.keras: not written (run the .keras tests with STRATA_WRITE_KERAS)")
            continue
        model = keras.models.load_model(os.path.join(folder, written[0]))
        x = np.array(case["x"]["data"], dtype=np.float32).reshape(case["x"]["shape"])
        expected = np.array(case["predictions"]["data"], dtype=np.float32).reshape(case["predictions"]["shape"])
        diff = float(np.abs(model.predict(x, verbose=0) - expected).max())
        print(f"{case['name']}.keras: Keras's load_model opens Strata's file; params {model.count_params()}; largest prediction difference {diff:.2e}")
        assert model.count_params() == case["params"] and diff < 1e-5


def main(folder):
    check_keras_files(folder)
    cases = {c["name"]: c for f in FIXTURES for c in json.load(open(f))["models"]}
    for name in sorted(cases):
        path = os.path.join(folder, f"{name}.json")
        strata_model = keras.models.model_from_json(open(path).read())
        keras_model = keras.models.model_from_json(cases[name]["model_json"])
        weights = {k: np.array(v["data"], dtype=np.float32).reshape(v["shape"]) for k, v in cases[name]["final_weights"].items()}
        for v in strata_model.weights:
            v.assign(weights[v.path])
        keras_model.set_weights(strata_model.get_weights())
        x = {k: np.array(v["data"], dtype=np.float32).reshape(v["shape"]) for k, v in cases[name]["x"].items()}
        x = x if len(x) > 1 else next(iter(x.values()))
        a, b = strata_model.predict(x, verbose=0), keras_model.predict(x, verbose=0)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        diff = max(float(np.abs(p - q).max()) for p, q in zip(a, b))
        same = [l.name for l in strata_model.layers] == [l.name for l in keras_model.layers]
        print(f"{name}: Keras reads Strata's config; layers match: {same}; params {strata_model.count_params()} vs {keras_model.count_params()}; "
              f"largest prediction difference {diff:.2e}")
        assert same and strata_model.count_params() == keras_model.count_params() and diff < 1e-5


if __name__ == "__main__":
    main(sys.argv[1])
