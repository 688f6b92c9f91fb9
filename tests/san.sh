#!/usr/bin/env bash
# tests/san.sh -- dmc, the runtime and the generated programs under AddressSanitizer
# and UndefinedBehaviorSanitizer.
#
#   tests/san.sh            everything below; ends with "san: N passed, M failed"
#   SAN_ROWS=2000 tests/san.sh      bigger synthetic data sets (default 1000 rows)
#   SAN_ONLY="din deepfm" tests/san.sh   only these examples (front-end files still all run)
#   SAN_MODELS="a.model b.model" tests/san.sh   these models as programs instead of examples/
#                           (and the fuzzers' fixtures, tests/fuzz/models/, corpus/front/)
#
# 1. `make SAN=1 BUILD=build-san` builds the compiler objects, libdmcrt.a and the
#    portable kernels with -fsanitize=address,undefined; tests/fuzz/fuzz.mk's
#    $(BUILD)/bin/dmc links the sanitized dmc as build-san/bin/dmc (bin/dmc, shared
#    by every BUILD, is left alone). The unit tests (compiler, gradients, runtime)
#    are built the same way and run.
# 2. The sanitized dmc checks every .model of examples/, tests/errors/ (their errors
#    are expected: only a sanitizer report or a crash fails), tests/ir/,
#    tests/fuzz/models/ and tests/fuzz/corpus/front/, and prints their IR.
# 3. Every example (and fuzz fixture model) that compiles to a program is compiled
#    by the sanitized dmc with CC="cc -fsanitize=address,undefined ..." (dmc splits CC
#    into words) and linked with build-san/libdmcrt.a (DMC_LIBDIR=build-san; DMC_HOME
#    is this tree, for runtime/ and stdlib/). Then, all sanitized: synth a training and a test set, train 2
#    epochs with a small batch and --valid, eval, predict (one score per row), info;
#    predict --skip-bad on the test rows with adversarial ids (negative, beyond 64 bits,
#    INT64_MIN, overlong lists, long strings, empty fields; some rows must be scored);
#    train again with --stream (feed.c: reading in a background thread) when the
#    model allows it; and din once more through --backend=llvm (the LLVM object is
#    not instrumented, the runtime it links is).
# A unit fails on a non-zero exit where success is expected, on a crash, or on any
# sanitizer report. Logs of failures are printed; everything is kept in $SAN_KEEP
# when set. Needs gcc's libasan/libubsan (Debian: gcc pulls in libasan8, libubsan1).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
B=${SAN_BUILD:-build-san}
ROWS=${SAN_ROWS:-1000}
CCBIN=${SAN_CC:-cc}
SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}
start=$(date +%s)

work=$(mktemp -d /tmp/dmc-san.XXXXXX)
cleanup() { if [ -n "${SAN_KEEP:-}" ]; then rm -rf "$SAN_KEEP"; mv "$work" "$SAN_KEEP"; else rm -rf "$work"; fi; }
trap cleanup EXIT

echo "san: building with $CCBIN $SANFLAGS into $B/"
# The Makefile's object rules list dmc.h and ops.def, not sema.h or the runtime's headers
# used by compiler/ (kernels.h): drop every object older than the newest header so that
# none is built against an old struct layout.
newest_h=$(ls -t compiler/*.h runtime/*.h compiler/ops.def | head -n 1)
[ -d "$B" ] && find "$B/compiler" "$B/runtime" -name '*.o' ! -newer "$newest_h" -delete 2>/dev/null
if ! make -s -j"$(nproc)" SAN=1 BUILD="$B" CC="$CCBIN" "$B/bin/dmc" "$B/libdmcrt.a" \
       "$B/runtime/kernels_portable.o" "$B/tests/test_compiler" "$B/tests/test_grad" \
       "$B/tests/test_runtime" >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log"
  echo "san: build failed"
  exit 2
fi
dmc=$root/$B/bin/dmc

# programs: the sources of this tree, the sanitized runtime library, CC with the flags
export DMC_HOME=$root DMC_LIBDIR=$root/$B CC="$CCBIN $SANFLAGS"
mkdir -p "$work/run"

passed=0 failed=0
failures=()
# A sanitizer report in a log, whatever the exit status.
san_report() { grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)" "$1"; }
# unit NAME LOG: counts the unit from the status of the steps run into LOG ($bad set on failure)
finish() {
  local name=$1 log=$2
  if [ "$bad" = 0 ] && ! san_report "$log"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "---- FAIL $name (log: $log)"
    grep -nE "ERROR: |runtime error:|SUMMARY:|^step " "$log" | head -n 20
    tail -n 25 "$log"
  fi
}
# step LOG EXPECT CMD...: runs CMD, stderr into LOG, stdout into $OUT (default LOG.out);
# EXPECT ok: exit 0; any: any exit below 64 (a diagnosed error is fine, a crash or a
# sanitizer's exit status is not). Sets bad=1 on failure.
step() {
  local log=$1 expect=$2
  shift 2
  echo "step: $*" >>"$log"
  "$@" >>"${OUT:-$log.out}" 2>>"$log"
  local rc=$?
  if { [ "$expect" = ok ] && [ $rc -ne 0 ]; } || [ $rc -ge 64 ]; then
    echo "step failed (exit $rc): $*" >>"$log"
    bad=1
    return 1
  fi
  return 0
}

# 1. unit tests
for t in test_compiler test_grad test_runtime; do
  log=$work/unit-$t.log bad=0
  OUT=$log step "$log" ok "$B/tests/$t"
  finish "unit/$t" "$log"
done

# 2. the front end over every model file
for f in examples/*.model tests/errors/*.model tests/ir/*.model tests/fuzz/models/*.model \
         tests/fuzz/corpus/front/*.model; do
  log=$work/front-$(echo "$f" | tr / _).log bad=0
  step "$log" any "$dmc" check "$f"
  step "$log" any "$dmc" "$f" --emit=ir -o /dev/null
  finish "front/$f" "$log"
done

# 3. the programs
# shellcheck disable=SC2206
models=(${SAN_MODELS:-examples/*.model tests/fuzz/models/*.model tests/fuzz/corpus/front/*.model})
cd "$work/run"
for f in "${models[@]}"; do
  case $f in /*) ;; *) f=$root/$f;; esac
  name=$(basename "$f" .model)
  if [ -n "${SAN_ONLY:-}" ] && [[ " $SAN_ONLY " != *" $name "* ]]; then continue; fi
  log=$work/prog-$name.log bad=0
  # examples that do not compile to a program yet say so: not a failure
  if ! "$dmc" "$f" --emit=c -o /dev/null 2>"$log.check"; then
    if grep -q "cannot be compiled to a program yet" "$log.check" && ! san_report "$log.check"; then
      echo "san: $name: skipped: $(grep -m 1 -o "error: .*" "$log.check" | cut -c 8-)"
      continue
    fi
  fi
  prog=./$name
  step "$log" ok "$dmc" "$f" -o "$prog" &&
  step "$log" ok "$prog" synth "$ROWS" --seed 1 -o "$name.train" &&
  step "$log" ok "$prog" synth $((ROWS / 3)) --seed 2 -o "$name.test" &&
  step "$log" ok "$prog" train "$name.train" --valid "$name.test" --epochs 2 --batch 16 --threads 2 \
       -o "$name.ckpt" &&
  OUT=$name.eval step "$log" ok "$prog" eval "$name.test" -c "$name.ckpt" --threads 2 &&
  OUT=$name.scores step "$log" ok "$prog" predict "$name.test" -c "$name.ckpt" --batch 7 &&
  step "$log" ok "$prog" info
  if [ "$bad" = 0 ]; then   # eval counted every row, predict scored every row
    rows=$(($(wc -l <"$name.test") - 1))
    grep -qE "^rows +$rows\$" "$name.eval" || { echo "eval did not report $rows rows" >>"$log"; bad=1; }
    [ "$(wc -l <"$name.scores")" = "$rows" ] ||
      { echo "predict: $(wc -l <"$name.scores") scores for $rows rows" >>"$log"; bad=1; }
  fi
  # adversarial ids through predict: integer fields in turn -1, an integer beyond 64 bits
  # and INT64_MIN; lists of integers 30 such items longer; strings in turn 300 bytes;
  # one field in three rows empty. --skip-bad (a row made bad is skipped), but some rows
  # must be scored, all without a sanitizer report.
  if [ "$bad" = 0 ]; then
    d=","; head -n 1 "$name.test" | grep -q "$(printf '\t')" && d=$(printf '\t')
    awk -v FS="$d" -v OFS="$d" '
      function adv(v, m,   sep, i, out) {
        if (v ~ /^-?[0-9]+$/)
          return m == 0 ? v : m == 1 ? "-1" : m == 2 ? "99999999999999999999" : "-9223372036854775808"
        if (v ~ /^-?[0-9]+[,;|]-?[0-9]/) {
          sep = substr(v, match(v, /[,;|]/), 1); out = v
          for (i = 0; i < 30; i++)
            out = out sep (i % 3 == 0 ? "-1" : i % 3 == 1 ? "99999999999999999999" : "-9223372036854775808")
          return out
        }
        if (v ~ /[A-Za-z]/ && m == 1) { out = v; for (i = 0; i < 30; i++) out = out "~adv~" i; return out }
        return v
      }
      NR == 1 {print; next}
      {for (k = 1; k <= NF; k++) $k = adv($k, (NR + k) % 4)
       if (NR % 3 == 0) $(NR % NF + 1) = ""
       print}' "$name.test" >"$name.adv"
    OUT=$name.adv.scores step "$log" ok "$prog" predict "$name.adv" -c "$name.ckpt" --skip-bad &&
    { [ -s "$name.adv.scores" ] || { echo "predict scored no adversarial row" >>"$log"; bad=1; }; }
  fi
  if [ "$bad" = 0 ] && ! grep -qE "next_by|group_by" "$f"; then   # they need every row in memory
    step "$log" ok "$prog" train "$name.train" --stream --shuffle-buffer 50 --epochs 1 --batch 16 \
         -o "$name.stream.ckpt"
  fi
  if [ "$bad" = 0 ] && [ "$name" = din ]; then
    step "$log" ok "$dmc" "$f" --backend=llvm -o "$prog.llvm" &&
    step "$log" ok "$prog.llvm" train "$name.train" --epochs 2 --batch 16 -o "$name.llvm.ckpt" &&
    step "$log" ok "$prog.llvm" eval "$name.test" -c "$name.llvm.ckpt"
  fi
  finish "program/$name" "$log"
done

echo "san: $(( $(date +%s) - start )) s"
for n in "${failures[@]}"; do echo "san: failed: $n"; done
echo "san: $passed passed, $failed failed"
[ "$failed" = 0 ]
