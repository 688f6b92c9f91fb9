#!/usr/bin/env bash
# The LLVM backend against the C backend, on every example that compiles to a
# program (the others are skipped, visibly). For each:
#   - `--emit=llvm` passes `opt -verify` and `llc` (LLVM 14's tools);
#   - the descriptor: tests/backend/abi_dump.c linked with the C object and with
#     the LLVM object (--emit=obj, what --backend=llvm links) prints the same
#     text: every field, nested array and string of dmc_model;
#   - the numbers: tests/backend/diff_main.c linked with each object checks it
#     against the reference interpreter (1e-4), and the LLVM build's loss,
#     outputs and every gradient against the C build's (1e-5 relative).
# Then din (if it compiles) end to end: both programs train on the same
# synthetic data to the same checkpoint bytes, and each predicts with the
# other's checkpoint. Closing line: `llvm: N passed, M failed, K skipped`.
set -u
cd "$(dirname "$0")/.."
DMC=${1:-bin/dmc}
BUILD=${BUILD:-build}
CC=${CC:-cc}
pass=0; fail=0; skip=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
OPT=$(command -v opt-14 || command -v opt || true)
LLC=$(command -v llc-14 || command -v llc || true)
LIBS=(-lxxhash -lz -ljansson -lm -lpthread)

[ -n "$OPT" ] || echo "note: no opt/opt-14 on PATH: --emit=llvm is not checked with opt"
[ -n "$LLC" ] || echo "note: no llc/llc-14 on PATH: --emit=llvm is not checked with llc"

CFLAGS_T=(-std=c11 -O1 -g -w -D_POSIX_C_SOURCE=200809L -iquote runtime -iquote compiler -I"$BUILD/grammar")
if ! { $CC "${CFLAGS_T[@]}" -c -o "$tmp/diff_main.o" tests/backend/diff_main.c &&
       $CC "${CFLAGS_T[@]}" -c -o "$tmp/abi_dump.o" tests/backend/abi_dump.c &&
       $CC "${CFLAGS_T[@]}" -c -o "$tmp/kernels.o" runtime/kernels.c; } 2> "$tmp/err"; then
  cat "$tmp/err"; echo "llvm: 0 passed, 1 failed, 0 skipped"; exit 1
fi

for f in examples/*.model; do
  name=$(basename "$f" .model)
  d="$tmp/$name"; mkdir -p "$d"
  if ! "$DMC" "$f" --emit=c -o "$d/m.c" 2> "$d/err"; then
    if grep -q "cannot be compiled to a program yet" "$d/err"; then
      echo "SKIP $name: $(grep -o 'error: .*' "$d/err" | head -1)"; skip=$((skip+1)); continue
    fi
    echo "FAIL $name: dmc --emit=c"; cat "$d/err"; fail=$((fail+1)); continue
  fi
  why=""
  if ! "$DMC" "$f" --emit=llvm -o "$d/m.ll" 2> "$d/err"; then
    if grep -q "built without LLVM" "$d/err"; then echo "SKIP $name: $(cat "$d/err")"; skip=$((skip+1)); continue; fi
    why="dmc --emit=llvm"
  elif [ -n "$OPT" ] && ! "$OPT" -verify -disable-output "$d/m.ll" 2> "$d/err"; then why="opt -verify"
  elif [ -n "$LLC" ] && ! "$LLC" -O2 -relocation-model=pic -filetype=obj -o "$d/llc.o" "$d/m.ll" 2> "$d/err"; then why="llc"
  elif ! "$DMC" "$f" --emit=obj -o "$d/m.o" 2> "$d/err"; then why="dmc --emit=obj"
  elif ! $CC "${CFLAGS_T[@]}" -c -o "$d/c.o" "$d/m.c" 2> "$d/err"; then why="compiling the C backend's output"
  elif ! { $CC -o "$d/abi_c" "$tmp/abi_dump.o" "$d/c.o" "$tmp/kernels.o" -lm &&
           $CC -o "$d/abi_l" "$tmp/abi_dump.o" "$d/m.o" "$tmp/kernels.o" -lm &&
           $CC -o "$d/diff_c" "$tmp/diff_main.o" "$d/c.o" "$tmp/kernels.o" "$BUILD/libdmc.a" "${LIBS[@]}" &&
           $CC -o "$d/diff_l" "$tmp/diff_main.o" "$d/m.o" "$tmp/kernels.o" "$BUILD/libdmc.a" "${LIBS[@]}"; } 2> "$d/err"
  then why="linking the test programs"
  elif ! "$d/abi_c" > "$d/abi_c.txt" 2> "$d/err" || ! "$d/abi_l" > "$d/abi_l.txt" 2>> "$d/err"; then why="abi_dump"
  elif ! diff "$d/abi_c.txt" "$d/abi_l.txt" > "$d/err"; then why="the descriptors differ (< C, > LLVM)"
  elif ! "$d/diff_c" "$f" stdlib 5 "save=$d/c.bin" > "$d/out_c" 2> "$d/err"; then why="C backend vs interpreter"; cat "$d/out_c" >> "$d/err"
  elif ! "$d/diff_l" "$f" stdlib 5 "against=$d/c.bin" > "$d/out_l" 2> "$d/err"; then why="LLVM backend vs interpreter or vs C"; cat "$d/out_l" >> "$d/err"
  fi
  if [ -n "$why" ]; then
    echo "FAIL $name: $why"; head -30 "$d/err"; fail=$((fail+1))
  else
    echo "ok   $name: $(grep -o 'worst relative difference [^ ]*' "$d/out_l" | head -1 | sed 's/^/vs interpreter: /'), $(grep -o 'against the other backend: worst relative difference [^ ]*' "$d/out_l" | sed 's/.*difference /vs C: /')"
    pass=$((pass+1))
  fi
done

# din end to end: the same checkpoint from either program, and either loads the other's.
if [ -e examples/din.model ] && "$DMC" examples/din.model -o "$tmp/din_c" --backend=c 2> "$tmp/err"; then
  why=""
  if ! "$DMC" examples/din.model -o "$tmp/din_l" --backend=llvm 2> "$tmp/err"; then
    if grep -q "built without LLVM" "$tmp/err"; then why="skip"; else why="dmc --backend=llvm"; fi
  elif ! "$tmp/din_c" synth 600 -o "$tmp/din.csv" 2> "$tmp/err"; then why="synth"
  elif ! "$tmp/din_c" train "$tmp/din.csv" --epochs 1 --batch 64 -q -o "$tmp/c.ckpt" > /dev/null 2> "$tmp/err"; then why="train (C)"
  elif ! "$tmp/din_l" train "$tmp/din.csv" --epochs 1 --batch 64 -q -o "$tmp/l.ckpt" > /dev/null 2> "$tmp/err"; then why="train (LLVM)"
  elif ! cmp "$tmp/c.ckpt" "$tmp/l.ckpt" > "$tmp/err" 2>&1; then why="the two programs trained different checkpoints"
  elif ! "$tmp/din_l" predict "$tmp/din.csv" -c "$tmp/c.ckpt" > "$tmp/p_lc" 2> "$tmp/err" ||
       ! "$tmp/din_c" predict "$tmp/din.csv" -c "$tmp/l.ckpt" > "$tmp/p_cl" 2> "$tmp/err" ||
       ! "$tmp/din_c" predict "$tmp/din.csv" -c "$tmp/c.ckpt" > "$tmp/p_cc" 2> "$tmp/err"; then why="predict with the other's checkpoint"
  elif ! cmp "$tmp/p_lc" "$tmp/p_cc" > "$tmp/err" 2>&1 || ! cmp "$tmp/p_cl" "$tmp/p_cc" >> "$tmp/err" 2>&1; then why="predictions differ"
  fi
  if [ "$why" = skip ]; then echo "SKIP din end to end: $(cat "$tmp/err")"; skip=$((skip+1))
  elif [ -n "$why" ]; then echo "FAIL din end to end: $why"; head -20 "$tmp/err"; fail=$((fail+1))
  else echo "ok   din end to end: same checkpoint from both programs, each predicts with the other's"; pass=$((pass+1)); fi
fi

echo "llvm: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
