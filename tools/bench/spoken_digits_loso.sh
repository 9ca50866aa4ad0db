#!/usr/bin/env bash
# Leave one speaker out, for each of the five speakers of the Free Spoken
# Digit Dataset, with and without augmentation: prints one JSON line per run
# (holdout, augment, test_accuracy, seconds) from the spoken_digits example.
#
#     tools/bench/spoken_digits_loso.sh [EPOCHS] [DATA]
set -euo pipefail
epochs=${1:-30}
data=${2:-../shared/data/spoken-digits}
cargo build --release -q -p strata --example spoken_digits
for speaker in george jackson nicolas theo yweweler; do
    for augment in "" --augment; do
        ./target/release/examples/spoken_digits --data "$data" --epochs "$epochs" --holdout "$speaker" $augment --json 2>/dev/null
    done
done
