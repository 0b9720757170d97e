#!/usr/bin/env bash
# The main job end to end on the embedded toy problem (no downloads):
# simulate reference events, train a generator, sample from it, validate it against
# fresh reference events. Everything lands in the folder given as $1 (default demo-out/).
set -euo pipefail
# One thread per process: on small CPU machines oversubscribed BLAS/torch threads are many
# times slower than one.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:-demo-out}
bin=${VENV:-.venv}/bin
mkdir -p "$out"
rm -rf "$out/model" "$out/validation"

"$bin/surrogate" plugins
"$bin/surrogate" simulate toy.gmm2d -n 20000 --option conditional=true --seed 1 -o "$out/toy.h5"
"$bin/surrogate" train flow --data "$out/toy.h5" -o "$out/model" --seed 1 --epochs 10 --lr 3e-3 \
  --option hidden=32 --option blocks=1 --option transforms=4
"$bin/surrogate" sample "$out/model" -n 10000 --condition radius=2.5 --seed 2 -o "$out/generated.h5"
# --config quick: a small classifier for the two-sample test (the CaloChallenge recipe,
# the default, trains a 2048-wide network for 50 epochs: ~an hour on a CPU).
"$bin/surrogate" validate "$out/model" --simulator toy.gmm2d -n 10000 --config quick \
  --out "$out/validation" --quiet
echo "demo done: model card $out/model/README.md, report $out/validation/report.html"
