#!/usr/bin/env bash
# Regenerates the checked-in reference tensors tests/reference/<model>.ref.safetensors
# for the small models of this directory (lr, fm, deepfm, din):
#   1. bin/dmc MODEL.model --emit=c
#   2. dump_case (linked with that C) writes deterministic inputs and parameters
#   3. make_reference.py builds the same model independently in PyTorch, runs forward
#      and backward in float64 and writes inputs, parameters, outputs, per-example
#      losses and every parameter's gradient
# This is the ONLY step that needs PyTorch (Debian: apt-get install python3-torch;
# run with /usr/bin/python3, set PYTHON to use another interpreter). The test itself,
# tests/reference.sh, needs only a C compiler and the checked-in files.
# Run it after changing a small model or dump_case.c; rerunning it unchanged rewrites
# identical files. Build the compiler first: make bin/dmc build/libdmc.a
#   usage: tests/reference/regenerate.sh [MODEL...]
set -eu
cd "$(dirname "$0")/../.."
DMC=${DMC:-bin/dmc}
CC=${CC:-cc}
PYTHON=${PYTHON:-/usr/bin/python3}
models=${*:-lr fm deepfm din}
"$PYTHON" -c 'import torch, numpy' || { echo "regenerate.sh: $PYTHON has no torch/numpy (apt-get install python3-torch)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for name in $models; do
  "$DMC" "tests/reference/$name.model" --emit=c -o "$tmp/$name.c"
  $CC -std=c11 -O1 -g -w -D_POSIX_C_SOURCE=200809L -iquote runtime -iquote compiler \
      -o "$tmp/dump_$name" tests/reference/dump_case.c "$tmp/$name.c" runtime/kernels.c \
      runtime/checkpoint.c runtime/rterr.c -lxxhash -ljansson -lz -lm
  "$tmp/dump_$name" "$tmp/$name.case.safetensors" 8
  "$PYTHON" tests/reference/make_reference.py "$name" "$tmp/$name.case.safetensors" \
      "tests/reference/$name.ref.safetensors"
done
