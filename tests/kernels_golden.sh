#!/usr/bin/env bash
# Fused kernel lists: `dmc --emit=kernels` of some examples (and of the edge-case
# models in tests/kernels/) against tests/kernels/NAME.kernels, so a fusion that is lost fails here even when the
# numbers stay right (tests/backend.sh checks the numbers). Also checks that
# fusion removes calls: each example has fewer kernels than with --no-fuse.
# `tests/kernels_golden.sh bin/dmc --update` rewrites the lists (review the diff).
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
update=${2:-}
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for want in tests/kernels/*.kernels; do
  name=$(basename "$want" .kernels)
  model=examples/$name.model
  [ -e "$model" ] || model=tests/kernels/$name.model   # a model of fusion edge cases
  "$DMC" "$model" --emit=kernels --stdlib stdlib > "$tmp/got" 2> "$tmp/err" || { echo "FAIL $name: dmc failed"; cat "$tmp/err"; fail=$((fail+1)); continue; }
  [ "$update" = --update ] && cp "$tmp/got" "$want"
  if diff -u "$want" "$tmp/got" > "$tmp/diff"; then pass=$((pass+1)); else echo "FAIL $name: kernel list differs"; head -40 "$tmp/diff"; fail=$((fail+1)); fi
done
for f in examples/*.model tests/kernels/*.model; do
  name=$(basename "$f" .model)
  "$DMC" "$f" --emit=kernels --stdlib stdlib > "$tmp/fused" 2> /dev/null || continue   # not a program (checked elsewhere)
  "$DMC" "$f" --emit=kernels --no-fuse --stdlib stdlib > "$tmp/plain" 2> /dev/null
  a=$(wc -l < "$tmp/fused"); b=$(wc -l < "$tmp/plain")
  if [ "$a" -lt "$b" ] && grep -q '^forward  fused\[' "$tmp/fused"; then pass=$((pass+1))
  else echo "FAIL $name: $a kernels fused, $b without fusion"; fail=$((fail+1)); fi
done
echo "kernel lists: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
