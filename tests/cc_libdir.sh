#!/usr/bin/env bash
# tests/cc_libdir.sh -- dmc's C compiler and runtime library knobs.
#
#   tests/cc_libdir.sh [DMC]      (default bin/dmc)
#
# CC and --cc are split into words (a program and its flags, no shell): a program built
# with CC="cc -fsanitize=address" links AddressSanitizer, with either backend; an empty
# CC is an error. DMC_LIBDIR / --libdir name the directory of libdmcrt.a: a copy of the
# library elsewhere is used, a directory without one is a located error naming it.
# Ends with "cc_libdir: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
dmc=$(realpath "${1:-bin/dmc}")
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/dmc-cc.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() {   # ok NAME STATUS [DETAIL]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1 ${3:-}"; fi
}
model=examples/lr.model
has_asan() { readelf -d "$1" 2>/dev/null | grep -q 'NEEDED.*libasan' || nm "$1" 2>/dev/null | grep -q '__asan_init'; }

# CC with flags, each backend (llvm: when this dmc has it)
for backend in c llvm; do
  if [ "$backend" = llvm ] && ! "$dmc" "$model" --backend=llvm --emit=llvm -o /dev/null 2>/dev/null; then
    echo "cc_libdir: this dmc has no LLVM: --backend=llvm not tested"
    continue
  fi
  CC="cc -fsanitize=address" "$dmc" "$model" --backend=$backend -o "$work/p_$backend" 2>"$work/err"
  ok "CC with flags ($backend)" $? "$(cat "$work/err")"
  has_asan "$work/p_$backend"; ok "CC's flags reach the compiler ($backend)" $?
  "$dmc" "$model" --backend=$backend --cc "  cc	-fsanitize=address " -o "$work/q_$backend" 2>"$work/err"
  ok "--cc with blanks and a tab ($backend)" $? "$(cat "$work/err")"
  has_asan "$work/q_$backend"; ok "--cc's flags reach the compiler ($backend)" $?
done
"$dmc" "$model" --backend=c -o "$work/plain" 2>/dev/null && ! has_asan "$work/plain"
ok "without flags, no sanitizer" $?

# an empty CC, a compiler that does not exist
CC="   " "$dmc" "$model" -o "$work/x" 2>"$work/err"
[ $? = 1 ] && grep -q "dmc: the C compiler (--cc or \$CC) is empty" "$work/err"
ok "empty CC" $? "$(cat "$work/err")"
"$dmc" "$model" --backend=c --cc "no-such-cc -O2" -o "$work/x" 2>"$work/err"
[ $? = 1 ] && grep -q "compiling the generated program with 'no-such-cc -O2' failed" "$work/err"
ok "missing compiler" $? "$(cat "$work/err")"

# the runtime library from elsewhere
mkdir -p "$work/lib/runtime"
cp "$BUILD/libdmcrt.a" "$work/lib/"
cp "$BUILD/runtime/kernels_portable.o" "$work/lib/runtime/"
DMC_LIBDIR=$work/lib "$dmc" "$model" --backend=c --portable -o "$work/l1" 2>"$work/err"
ok "DMC_LIBDIR" $? "$(cat "$work/err")"
"$work/l1" info >/dev/null; ok "the program built against DMC_LIBDIR runs" $?
"$dmc" "$model" --backend=c --libdir "$work/lib" -o "$work/l2" 2>"$work/err"
ok "--libdir" $? "$(cat "$work/err")"
DMC_LIBDIR=$work/nowhere "$dmc" "$model" -o "$work/x" 2>"$work/err"
[ $? = 1 ] && grep -q "dmc: the runtime library '$work/nowhere/libdmcrt.a' is missing" "$work/err"
ok "a directory without the library" $? "$(cat "$work/err")"
rm "$work/lib/runtime/kernels_portable.o"
"$dmc" "$model" --libdir "$work/lib" --portable -o "$work/x" 2>"$work/err"
[ $? = 1 ] && grep -q "'$work/lib/runtime/kernels_portable.o' is missing" "$work/err"
ok "--portable without the portable kernels" $? "$(cat "$work/err")"

echo "cc_libdir: $passed passed, $failed failed"
[ "$failed" = 0 ]
