#!/usr/bin/env bash
# The main job end to end on the embedded toy problem (no downloads):
# simulate reference events, train a generator, sample from it, validate it.
set -euo pipefail
out=${1:-demo-out}
bin=${VENV:-.venv}/bin
mkdir -p "$out"
rm -rf "$out/model" "$out/validation"

"$bin/surrogate" plugins
"$bin/surrogate" simulate toy.gmm2d -n 20000 --option conditional=true --seed 1 -o "$out/toy.h5"
"$bin/surrogate" train gaussian --data "$out/toy.h5" -o "$out/model" --seed 1
"$bin/surrogate" sample "$out/model" -n 10000 --condition radius=2.5 --seed 2 -o "$out/generated.h5"
echo "demo done: see $out/"
