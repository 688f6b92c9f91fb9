#!/usr/bin/env bash
# Golden error tests: every tests/errors/NAME.model holds one mistake and, as
# comment lines, what `dmc check` must say about it:
#
#   # expect: TEXT         TEXT is exactly one line of dmc's stderr, e.g.
#                          # expect: NAME.model:7:12: error: unknown name 'x'
#                          (any full line: notes with their location, "1 error", ...)
#   # expect-note: TEXT    some "note: " line has TEXT in what follows "note: "
#   # expect-hint: TEXT    some "= hint: " line has TEXT in what follows "hint: "
#   # expect-stderr: TEXT  some stderr line contains TEXT
#   # expect-not: TEXT     no stderr line contains TEXT (e.g. a follow-on error)
#
# dmc runs from inside tests/errors, so locations print as bare file names, with
# --stdlib pointing at the repository's stdlib/. A case passes when dmc exits
# with status 1 (not 0, not a crash) and every expectation holds.
#
# Usage: tests/golden.sh [DMC] [NAME...]     (DMC defaults to bin/dmc; NAMEs pick cases)
#   VALGRIND=1  also run dmc under valgrind (when installed); its errors and
#               definite leaks fail the case
#   VERBOSE=1   print dmc's stderr for failing cases
#   JOBS=N      cases run in N groups at once (default: the number of cores)
set -u
export LC_ALL=C

here=$(pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
dmc=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$dmc" ]; then
  dmc=$root/bin/dmc
elif [[ $dmc != */* ]]; then
  dmc=$(command -v "$dmc" || echo "$dmc")
elif [[ $dmc != /* ]]; then
  dmc=$here/$dmc
fi
if [ ! -x "$dmc" ]; then
  echo "golden: no dmc executable at $dmc (run make first)"
  echo "golden: 0 passed, 1 failed"
  exit 1
fi
stdlib=$root/stdlib
cases=$root/tests/errors

vg=()
if [ "${VALGRIND:-0}" = 1 ]; then
  if command -v valgrind > /dev/null; then
    vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite -q)
  else
    echo "golden: VALGRIND=1 but valgrind is not installed; running without it"
  fi
fi
to=()
if command -v timeout > /dev/null; then
  if [ ${#vg[@]} -gt 0 ]; then to=(timeout 600); else to=(timeout 60); fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# has_after KIND TEXT: some stderr line has TEXT after its first "KIND: "
has_after() {
  K="$1: " X=$2 awk 'BEGIN { k = ENVIRON["K"]; x = ENVIRON["X"] }
    { i = index($0, k); if (i && index(substr($0, i + length(k)), x)) { found = 1; exit } }
    END { exit !found }' "$tmp/err"
}

pass=0
fail=0
shopt -s nullglob
files=("$cases"/*.model)
if [ $# -gt 0 ]; then
  files=()
  for n in "$@"; do files+=("$cases/${n%.model}.model"); done
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "golden: no cases in $cases"
  echo "golden: 0 passed, 1 failed"
  exit 1
fi

# With several cores and no names given, the cases run in groups at once (under
# valgrind a case takes seconds)
jobs=${JOBS:-$(nproc 2> /dev/null || echo 1)}
if [ $# -eq 0 ] && [ "$jobs" -gt 1 ]; then
  . "$root/tests/groups.sh"
  names=()
  for path in "${files[@]}"; do names+=("$(basename "$path")"); done
  run_groups golden "$jobs" bash "$root/tests/golden.sh" "$dmc" -- "${names[@]}"
  exit
fi

for path in "${files[@]}"; do
  name=$(basename "$path")
  if [ ! -f "$path" ]; then
    echo "FAIL $name: no such case"
    fail=$((fail + 1))
    continue
  fi
  why=()
  rm -f "$tmp"/vg.*
  vgrun=()
  [ ${#vg[@]} -gt 0 ] && vgrun=("${vg[@]}" "--log-file=$tmp/vg.%p")
  # (the braces keep bash's own "Aborted (core dumped)" report out of the output)
  { (cd "$cases" && exec "${to[@]}" "${vgrun[@]}" "$dmc" check "$name" --stdlib "$stdlib") \
      > "$tmp/out" 2> "$tmp/err" < /dev/null; rc=$?; } 2> /dev/null
  if [ $rc -eq 99 ] && [ ${#vg[@]} -gt 0 ]; then
    why+=("valgrind: $(grep -m1 -E 'Invalid|uninitialised|definitely lost|Mismatched|overlap' "$tmp"/vg.* 2> /dev/null | sed 's/^==[0-9]*== //' || true)")
  elif [ $rc -eq 124 ] && [ ${#to[@]} -gt 0 ]; then
    why+=("timed out")
  elif [ $rc -gt 128 ]; then
    why+=("crashed: exit status $rc (signal $((rc - 128)))$(grep -m1 'internal error' "$tmp/err" | sed 's/^/: /')")
  elif [ $rc -ne 1 ]; then
    why+=("exit status $rc, expected 1")
  fi
  n=0
  while IFS= read -r line; do
    line=${line%$'\r'}
    kind=${line%%:*}
    kind=${kind#\# }
    text=${line#*: }
    n=$((n + 1))
    case $kind in
      expect) grep -qxF -- "$text" "$tmp/err" || why+=("missing line: $text") ;;
      expect-note) has_after note "$text" || why+=("missing note: $text") ;;
      expect-hint) has_after hint "$text" || why+=("missing hint: $text") ;;
      expect-stderr) grep -qF -- "$text" "$tmp/err" || why+=("missing in stderr: $text") ;;
      expect-not) grep -qF -- "$text" "$tmp/err" && why+=("unexpected: $(grep -m1 -F -- "$text" "$tmp/err")") ;;
      *) why+=("unknown directive: $line") ;;
    esac
  done < <(grep -a -E '^# expect[a-z-]*: ' "$path")
  [ $n -eq 0 ] && why+=("no '# expect:' lines in the file")
  if [ ${#why[@]} -eq 0 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    msg=$(printf '%s; ' "${why[@]}")
    echo "FAIL $name: ${msg%; }"
    if [ "${VERBOSE:-0}" = 1 ]; then
      sed 's/^/    | /' "$tmp/err"
      [ ${#vg[@]} -gt 0 ] && cat "$tmp"/vg.* 2> /dev/null | sed 's/^/    vg /'
    fi
  fi
done

echo "golden: $pass passed, $fail failed"
[ $fail -eq 0 ]
