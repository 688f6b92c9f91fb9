#!/usr/bin/env bash
# tests/fuzz/coverage.sh -- source coverage of the fuzzers' corpora: builds the harnesses
# again without sanitizers, with clang's source-based coverage, into $(BUILD)/fuzz-cov/,
# runs each once over its corpus (build/fuzz/corpus/<harness> and its seeds) and prints
# llvm-cov's per-file summary of the code that harness exercises.
# Usage: tests/fuzz/coverage.sh [front|data|ckpt]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
COV=$BUILD/fuzz-cov
PROFDATA=$(command -v llvm-profdata-14 || command -v llvm-profdata)
LLVMCOV=$(command -v llvm-cov-14 || command -v llvm-cov)
make -s BUILD="$BUILD" FUZZ_DIR="$COV" FUZZ_SAN= FUZZ_EXTRA="-fprofile-instr-generate -fcoverage-mapping" \
  "$COV/fuzz_front" "$COV/fuzz_data" "$COV/fuzz_ckpt" >/dev/null
seeds_front="examples stdlib tests/errors tests/ir tests/fuzz/models tests/fuzz/corpus/front"
for h in "${@:-front data ckpt}"; do
  for h1 in $h; do
    eval "seeds=\${seeds_$h1:-tests/fuzz/corpus/$h1}"
    rm -f "$COV/$h1".*.profraw
    # shellcheck disable=SC2086
    LLVM_PROFILE_FILE="$COV/$h1.%p.profraw" "$COV/fuzz_$h1" -runs=0 -close_fd_mask=3 \
      $( [ -d "$BUILD/fuzz/corpus/$h1" ] && echo "$BUILD/fuzz/corpus/$h1") $seeds >/dev/null 2>&1 || true
    "$PROFDATA" merge -sparse -o "$COV/$h1.profdata" "$COV/$h1".*.profraw
    case $h1 in
      front) files="compiler/ $BUILD/grammar/ runtime/kernels_impl.h";;
      data) files="runtime/csv.c runtime/encode.c runtime/encoder.c runtime/dataset.c runtime/feed.c runtime/vocab.c
                   runtime/normalize.c runtime/hash.c runtime/modelckpt.c runtime/checkpoint.c";;
      ckpt) files="runtime/checkpoint.c runtime/modelckpt.c runtime/encoder.c runtime/vocab.c
                   runtime/normalize.c";;
    esac
    echo "== $h1"
    # shellcheck disable=SC2086
    "$LLVMCOV" report "$COV/fuzz_$h1" -instr-profile="$COV/$h1.profdata" $files | sed -n '1,200p' |
      grep -vE "^-+$" | awk 'NR == 1 || $8 + 0 > 0 { printf "%-28s lines %6s of %5s covered (%s), branches %s\n", $1, $8 - $9, $8, $10, $13 }' |
      sed '1s/.*/file                         lines covered, branches covered/'
  done
done
