#!/usr/bin/env python3
"""Two builds of Strata side by side in one sitting: `strata bench` of each
benchmark model, the two binaries alternating (order swapped every round),
then the medians and the new/old ratios.

    python3 tools/bench/ab.py OLD_STRATA NEW_STRATA [ROUNDS]
    # e.g. a build of the previous commit in a worktree against this one:
    # git worktree add /tmp/old HEAD~1 && (cd /tmp/old && cargo build --release -p strata-cli)
    # python3 tools/bench/ab.py /tmp/old/target/release/strata target/release/strata 5
"""

import json
import statistics
import subprocess
import sys


def bench(binary, model):
    out = subprocess.run([binary, "bench", "--model", model, "--json", "--steps", "250"], capture_output=True, text=True, check=True).stdout
    m = json.loads(out)["models"][0]
    return m["train_samples_per_second"], m["infer_samples_per_second"]


def main(old, new, rounds):
    models = ["headline", "headline128", "dense"]
    runs = {}
    for r in range(rounds):
        for model in models:
            order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
            for tag, binary in order:
                train, infer = bench(binary, model)
                runs.setdefault((model, tag), []).append((train, infer))
                print(r, model, tag, train, infer, flush=True)
    for model in models:
        med = {tag: [statistics.median(x[i] for x in runs[(model, tag)]) for i in (0, 1)] for tag in ("old", "new")}
        (ot, oi), (nt, ni) = med["old"], med["new"]
        print(f"{model}: train old {ot:.0f} new {nt:.0f} ratio {nt / ot:.3f}; infer old {oi:.0f} new {ni:.0f} ratio {ni / oi:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
