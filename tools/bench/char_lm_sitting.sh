#!/usr/bin/env bash
# The character model's training speed against PyTorch and Keras, interleaved
# in one sitting: each round runs Strata's char_lm example, then
# torch_char_lm.py, then keras_char_lm.py (LSTM; with GRU=1, PyTorch's nn.GRU
# and Strata's lstm_speed gru against keras_lstm_speed.py gru), and prints
# each one's steady rate: characters/s over steps 51..STEPS, from the logged
# running rates at steps 50 and STEPS (after warm-up and Keras's tracing).
#
#   cargo build --release -p strata --example char_lm --example lstm_speed
#   bash tools/bench/char_lm_sitting.sh [ROUNDS]     # env: PY, STEPS (150), DATA
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=${PY:-$HOME/.cache/strata-reference-venv/bin/python}
STEPS=${STEPS:-150}
DATA=${DATA:-../shared/data/shakespeare}
ARGS=(--data "$DATA" --steps "$STEPS" --log-every 50 --valid-windows 20)
steady() {
  python3 -c '
import re, sys
rate = {int(m[0]): float(m[1]) for m in re.findall(r"step (\d+)/\d+: training loss [\d.]+ \((\d+) characters/s\)", sys.stdin.read())}
last = max(rate)
print(round((last - 50) * 6400 / (last * 6400 / rate[last] - 50 * 6400 / rate[50])))'
}
for r in $(seq 1 "${1:-3}"); do
  if [ -n "${GRU:-}" ]; then
    s=$(./target/release/examples/lstm_speed gru 2>&1 | grep -o '[0-9]* characters/s' | cut -d' ' -f1)
    t=$("$PY" tools/bench/torch_char_lm.py "${ARGS[@]}" --gru 2>&1 | steady)
    k=$("$PY" tools/bench/keras_lstm_speed.py gru 2>&1 | grep -o '[0-9]* characters/s' | cut -d' ' -f1)
  else
    s=$(./target/release/examples/char_lm "${ARGS[@]}" 2>&1 | steady)
    t=$("$PY" tools/bench/torch_char_lm.py "${ARGS[@]}" 2>&1 | steady)
    k=$("$PY" tools/bench/keras_char_lm.py "${ARGS[@]}" 2>&1 | steady)
  fi
  echo "round $r strata $s pytorch $t keras $k"
done
