#!/usr/bin/env bash
# Runs every test suite (each prints its own summary), then one closing line.
# Exit status: non-zero if any suite failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
pass=0; fail=0; failed=()
suite() {   # suite NAME COMMAND... (its time printed: CI must stay under 30 minutes)
  local name=$1 start=$SECONDS; shift
  echo "== $name"
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
  echo "($name: $((SECONDS - start)) s)"
  echo
}
suite "compiler unit tests" "$BUILD/tests/test_compiler"
suite "gradient checks" "$BUILD/tests/test_grad"
[ -x "$BUILD/tests/test_runtime" ] && suite "runtime unit tests" "$BUILD/tests/test_runtime"
# with valgrind installed, dmc must also be valgrind-clean on every error case
if command -v valgrind >/dev/null; then export VALGRIND=1; fi
suite "golden error cases" tests/golden.sh bin/dmc
suite "IR golden tests" tests/ir_golden.sh bin/dmc
suite "fused kernel lists" tests/kernels_golden.sh bin/dmc
suite "examples check" tests/check_examples.sh bin/dmc
suite "C backend vs interpreter" tests/backend.sh bin/dmc
suite "LLVM backend vs C backend" tests/llvm_backend.sh bin/dmc
suite "PyTorch reference tensors" tests/reference.sh bin/dmc
suite "dmc --cc and --libdir" tests/cc_libdir.sh bin/dmc
suite "benchmark configurations" tests/bench_configs.sh bin/dmc
suite "online learning (DRN's exploration)" tests/online.sh bin/dmc
# dmc, the runtime and every example's program under ASan and UBSan (`make test SAN=1`
# runs this alone, on the default 1000 rows)
suite "sanitizers" env SAN_ROWS="${SAN_ROWS:-300}" tests/san.sh
suite "kill -9 during checkpoint saves" tests/crash_save.sh "$BUILD/tests/save_loop"
# a short run of each libFuzzer harness, then every past crash input (tests/fuzz/)
suite "fuzz smoke" make -s fuzz-smoke BUILD="$BUILD"
[ ${#failed[@]} -gt 0 ] && echo "failed suites: ${failed[*]}"
echo "suites: $pass passed, $fail failed ($SECONDS s)"
[ "$fail" -eq 0 ]
