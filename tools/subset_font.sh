#!/usr/bin/env bash
# Makes crates/strata/assets/DejaVuSans-plot.ttf, the font Strata's plots
# embed: DejaVu Sans cut down to the characters a plot writes (printable
# ASCII and a few symbols), so that plots render on a machine without fonts.
# Needs fonttools (`pip install fonttools`) and DejaVu Sans (Debian's
# fonts-dejavu-core). The font's licence is crates/strata/assets/DejaVu-LICENSE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=${1:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
pyftsubset "$src" --unicodes="U+0020-007E,U+00B1,U+00B7,U+00D7,U+2013,U+2014,U+2026,U+2212" \
  --layout-features='' --no-hinting --desubroutinize \
  --output-file=crates/strata/assets/DejaVuSans-plot.ttf
