#!/usr/bin/env bash
# Every example checks; with ../shared/data present, its column bindings are
# also checked against the header of the data set it names in its `data` line
# (sparrow for csv, mllatest for tsv). Also every example draws (--emit=dot)
# and reports (--report) without error; with VALGRIND=1, check and draw run under
# valgrind and must be clean.
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
DATA=${DMC_DATA:-../shared/data}
pass=0; fail=0
[ -d "$DATA" ] || echo "SKIP column checks: $DATA is absent (the models are still checked)"
for f in examples/*.model; do
  [ -e "$f" ] || continue
  args=()
  if [ -d "$DATA" ]; then
    if grep -q '^data tsv' "$f"; then args=(--data "$DATA/mllatest/train.tsv"); else args=(--data "$DATA/sparrow/train.csv"); fi
  fi
  vg=()
  if [ "${VALGRIND:-}" = 1 ]; then vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite); fi
  if out=$("${vg[@]}" "$DMC" check "$f" "${args[@]}" --stdlib stdlib 2>&1) && "${vg[@]}" "$DMC" "$f" --emit=dot --stdlib stdlib >/dev/null 2>&1 \
     && "$DMC" "$f" --report --stdlib stdlib >/dev/null 2>&1; then
    pass=$((pass+1))
  else
    echo "FAIL $f"; echo "$out"; fail=$((fail+1))
  fi
done
echo "examples: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
