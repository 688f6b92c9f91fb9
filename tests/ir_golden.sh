#!/usr/bin/env bash
# IR golden tests. Two kinds, both diffed against `dmc --emit=ir`:
#  - tests/ir/*.model: a small model whose expected IR follows a line
#    "# expected IR:" as comment lines ("# " + IR line), in the same file;
#  - tests/ir/examples/NAME.ir: the IR of examples/NAME.model.
# `tests/ir_golden.sh bin/dmc --update` rewrites the expectations from the
# current compiler (review the diff before committing it).
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
update=${2:-}
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in tests/ir/*.model; do
  [ -e "$f" ] || continue
  "$DMC" "$f" --emit=ir --stdlib stdlib > "$tmp/got" 2> "$tmp/err" || { echo "FAIL $f: dmc failed"; cat "$tmp/err"; fail=$((fail+1)); continue; }
  if [ "$update" = --update ]; then
    sed -n '1,/^# expected IR:$/p' "$f" > "$tmp/head"
    grep -q '^# expected IR:$' "$tmp/head" || { cat "$f"; echo; echo "# expected IR:"; } > "$tmp/head.new" && [ -s "$tmp/head.new" ] && mv "$tmp/head.new" "$tmp/head"
    { cat "$tmp/head"; sed 's/^/# /' "$tmp/got"; } > "$f"
  fi
  sed -n '/^# expected IR:$/,$p' "$f" | tail -n +2 | sed 's/^# //' > "$tmp/want"
  if diff -u "$tmp/want" "$tmp/got" > "$tmp/diff"; then pass=$((pass+1)); else echo "FAIL $f"; cat "$tmp/diff"; fail=$((fail+1)); fi
done
for want in tests/ir/examples/*.ir; do
  [ -e "$want" ] || continue
  name=$(basename "$want" .ir)
  "$DMC" "examples/$name.model" --emit=ir --stdlib stdlib > "$tmp/got" 2> "$tmp/err" || { echo "FAIL $want: dmc failed"; cat "$tmp/err"; fail=$((fail+1)); continue; }
  [ "$update" = --update ] && cp "$tmp/got" "$want"
  if diff -u "$want" "$tmp/got" > "$tmp/diff"; then pass=$((pass+1)); else echo "FAIL $want"; head -40 "$tmp/diff"; fail=$((fail+1)); fi
done
echo "ir: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
