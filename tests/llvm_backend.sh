#!/usr/bin/env bash
# The LLVM backend against the C backend, on every example that compiles to a
# program (the others are skipped, visibly). For each:
#   - `--emit=llvm` passes `opt -passes=verify` and `llc` of the LLVM dmc was built with;
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
# the tools of the LLVM dmc was built with (make LLVM_CONFIG=... picks it)
LLVM_CONFIG=${LLVM_CONFIG:-$(command -v llvm-config || command -v llvm-config-14 || true)}
BINDIR=$([ -n "$LLVM_CONFIG" ] && "$LLVM_CONFIG" --bindir || true)
OPT=$([ -x "$BINDIR/opt" ] && echo "$BINDIR/opt" || command -v opt || true)
LLC=$([ -x "$BINDIR/llc" ] && echo "$BINDIR/llc" || command -v llc || true)
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
  elif [ -n "$OPT" ] &&  ! "$OPT" -passes=verify -disable-output "$d/m.ll" 2> "$d/err"; then why="opt -verify"
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

# Every example end to end: both programs train ~10 steps on the same synthetic data
# (600 rows, batch 64) to byte-identical checkpoints (so the same loss trajectory),
# and each predicts identically with the other's checkpoint. Runs in $tmp/e2e, where
# fm's checkpoint is what fnn.model initialises from (fm comes first by name).
mkdir -p "$tmp/e2e"
for f in examples/*.model; do
  name=$(basename "$f" .model)
  why=""
  if ! "$DMC" "$f" -o "$tmp/e2e/${name}_c" --backend=c 2> "$tmp/err"; then
    grep -q "cannot be compiled to a program yet" "$tmp/err" && continue
    why="dmc --backend=c"
  elif ! "$DMC" "$f" -o "$tmp/e2e/${name}_l" --backend=llvm 2> "$tmp/err"; then
    if grep -q "built without LLVM" "$tmp/err"; then why="skip"; else why="dmc --backend=llvm"; fi
  else
    (cd "$tmp/e2e" && {
      if ! "./${name}_c" synth 600 -o "$name.data" 2> "$tmp/err"; then echo synth
      elif ! "./${name}_c" train "$name.data" --epochs 1 --batch 64 -q -o "$name.c.ckpt" > /dev/null 2> "$tmp/err"; then echo "train (C)"
      elif ! "./${name}_l" train "$name.data" --epochs 1 --batch 64 -q -o "$name.l.ckpt" > /dev/null 2> "$tmp/err"; then echo "train (LLVM)"
      elif ! cmp "$name.c.ckpt" "$name.l.ckpt" > "$tmp/err" 2>&1; then echo "the two programs trained different checkpoints"
      elif ! "./${name}_l" predict "$name.data" -c "$name.c.ckpt" > "$name.lc" 2> "$tmp/err" ||
           ! "./${name}_c" predict "$name.data" -c "$name.l.ckpt" > "$name.cl" 2> "$tmp/err" ||
           ! "./${name}_c" predict "$name.data" -c "$name.c.ckpt" > "$name.cc" 2> "$tmp/err"; then echo "predict with the other's checkpoint"
      elif ! cmp "$name.lc" "$name.cc" > "$tmp/err" 2>&1 || ! cmp "$name.cl" "$name.cc" >> "$tmp/err" 2>&1; then echo "predictions differ"
      fi
      [ "$name" = fm ] && cp "$name.c.ckpt" fm.ckpt
    } > "$tmp/why")
    why=$(cat "$tmp/why")
  fi
  if [ "$why" = skip ]; then echo "SKIP $name end to end: $(cat "$tmp/err")"; skip=$((skip+1))
  elif [ -n "$why" ]; then echo "FAIL $name end to end: $why"; head -20 "$tmp/err"; fail=$((fail+1))
  else echo "ok   $name end to end: the same checkpoint from both programs, each predicts with the other's"; pass=$((pass+1)); fi
done

echo "llvm: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
