#!/usr/bin/env bash
# The C backend against the reference interpreter on every example that
# compiles to a program: same inputs and parameters, forward and backward;
# losses, outputs and every gradient must agree (float vs double, 1e-4).
# Usage: tests/backend.sh [DMC [MODEL...]]; JOBS=N runs the models in N groups at
# once (default: the number of cores).
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
BUILD=${BUILD:-build}
CC=${CC:-cc}
pass=0; fail=0; skip=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
shift $(($# > 0))
files=("$@")
[ $# -gt 0 ] || files=(examples/*.model tests/kernels/*.model)   # tests/kernels: fusion edge cases
# With several cores and no files given, the models run in groups at once
jobs=${JOBS:-$(nproc 2> /dev/null || echo 1)}
if [ $# -eq 0 ] && [ "$jobs" -gt 1 ]; then
  . tests/groups.sh
  run_groups backend "$jobs" bash tests/backend.sh "$DMC" -- "${files[@]}"
  exit
fi
for f in "${files[@]}"; do
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
