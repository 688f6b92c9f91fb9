#!/usr/bin/env bash
# The C backend against the reference interpreter on every example that
# compiles to a program: same inputs and parameters, forward and backward;
# losses, outputs and every gradient must agree (float vs double, 1e-4).
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
BUILD=${BUILD:-build}
CC=${CC:-cc}
pass=0; fail=0; skip=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in examples/*.model tests/kernels/*.model; do   # tests/kernels: fusion edge cases
  name=$(basename "$f" .model)
  if ! "$DMC" "$f" --emit=c -o "$tmp/$name.c" 2> "$tmp/err"; then
    if grep -q "cannot be compiled to a program yet" "$tmp/err"; then
      echo "SKIP $name: $(grep -o 'error: .*' "$tmp/err" | head -1)"; skip=$((skip+1)); continue
    fi
    echo "FAIL $name: dmc --emit=c"; cat "$tmp/err"; fail=$((fail+1)); continue
  fi
  if ! $CC -std=c11 -O1 -g -w -D_POSIX_C_SOURCE=200809L -iquote runtime -iquote compiler -I"$BUILD/grammar" \
       -o "$tmp/$name" tests/backend/diff_main.c "$tmp/$name.c" runtime/kernels.c "$BUILD/libdmc.a" \
       -lxxhash -lz -ljansson -lm -lpthread 2> "$tmp/err"; then
    echo "FAIL $name: build"; head -20 "$tmp/err"; fail=$((fail+1)); continue
  fi
  if "$tmp/$name" "$f" stdlib 5; then pass=$((pass+1)); else echo "FAIL $name"; fail=$((fail+1)); fi
done
echo "backend: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
