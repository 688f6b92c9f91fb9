#!/usr/bin/env bash
# The C backend against reference tensors from an independent PyTorch implementation
# (tests/reference/make_reference.py), checked in as tests/reference/<model>.ref.safetensors:
# for each small model, compile it with dmc --emit=c, link tests/reference/check_reference.c,
# feed it the reference's inputs and parameters, and compare outputs, per-example losses
# and every gradient (tables included). No PyTorch needed here; to remake the references
# run tests/reference/regenerate.sh.
set -u
cd "$(dirname "$0")/.." || exit 2
DMC=${1:-bin/dmc}
CC=${CC:-cc}
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in tests/reference/*.model; do
  name=$(basename "$f" .model)
  ref=tests/reference/$name.ref.safetensors
  if [ ! -f "$ref" ]; then echo "FAIL $name: no $ref (run tests/reference/regenerate.sh)"; fail=$((fail+1)); continue; fi
  if ! "$DMC" "$f" --emit=c -o "$tmp/$name.c" 2> "$tmp/err"; then
    echo "FAIL $name: dmc --emit=c"; cat "$tmp/err"; fail=$((fail+1)); continue
  fi
  if ! $CC -std=c11 -O1 -g -w -D_POSIX_C_SOURCE=200809L -iquote runtime -iquote compiler \
       -o "$tmp/$name" tests/reference/check_reference.c "$tmp/$name.c" runtime/kernels.c \
       runtime/checkpoint.c runtime/rterr.c -lxxhash -ljansson -lz -lm 2> "$tmp/err"; then
    echo "FAIL $name: build"; head -20 "$tmp/err"; fail=$((fail+1)); continue
  fi
  if "$tmp/$name" "$ref" > "$tmp/out" 2>&1; then
    pass=$((pass+1)); tail -1 "$tmp/out"
  else
    fail=$((fail+1)); cat "$tmp/out"; echo "FAIL $name"
  fi
done
echo "reference: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
