#!/usr/bin/env bash
# make demo: compile examples/din.model, synthesise a data set in its own schema
# (a hidden random teacher gives it structure), train, evaluate, predict.
set -euo pipefail
cd "$(dirname "$0")/.."
d=build/demo
mkdir -p "$d"
echo "== dmc examples/din.model -o $d/din"
TIMEFORMAT='compiled in %R s'
time bin/dmc examples/din.model -o "$d/din"
cd "$d"
echo "== ./din synth: 40000 training rows, 10000 test rows of the same hidden problem"
./din synth 40000 --seed 1 -o train.tsv
./din synth 10000 --seed 2 -o test.tsv
echo "== ./din train train.tsv --valid test.tsv --epochs 3"
./din train train.tsv --valid test.tsv --epochs 3
echo "== ./din eval test.tsv"
./din eval test.tsv
echo "== ./din predict test.tsv > scores.txt (one score per row)"
./din predict test.tsv > scores.txt
head -3 scores.txt
