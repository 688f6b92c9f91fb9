#!/usr/bin/env bash
# tests/crash_save.sh -- kill -9 in the middle of checkpoint saves never damages the checkpoint.
#
#   tests/crash_save.sh [SAVE_LOOP]     (default $BUILD/tests/save_loop, BUILD=build)
#   CRASH_ITERS=100 CRASH_MB=64 tests/crash_save.sh     (defaults 60 and 32)
#
# tests/crash/save_loop.c saves version K, K+1, ... of a CRASH_MB checkpoint to one path,
# through the runtime's writer (checkpoint.h), saying "writing K" and "saved K MS". Each
# iteration starts it, sends kill -9 after a random delay (0 to about three saves), and then
# `save_loop verify` must load the path (every checksum checked) and find exactly the
# version last saved, or the one being written when the kill came if its rename was done:
# never anything else, never an error. Files the kill left beside it must be temporary
# ("PATH.tmp.*"), never a name a checkpoint is looked up by. At least a third of the kills
# must land inside a save, or the test did not test anything.
# Then the same loop with `save_loop unsafe` (the file overwritten in place) must be caught
# damaged within CRASH_UNSAFE_ITERS tries (60; it stops at the first), each kill sent
# during its in-place copy (random kills mostly hit its safe save to a staging file):
# the check itself can fail.
# With strace installed: the writer fsyncs the file before the rename and the directory
# after it. Ends with "crash_save: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
loop=${1:-$BUILD/tests/save_loop}
ITERS=${CRASH_ITERS:-60}
MB=${CRASH_MB:-32}
UNSAFE_ITERS=${CRASH_UNSAFE_ITERS:-60}
[ -x "$loop" ] || { echo "crash_save: $loop is missing (make $BUILD/tests/save_loop)"; exit 2; }
work=$(mktemp -d /tmp/dmc-crash.XXXXXX)
trap 'rm -rf "$work"' EXIT
ck=$work/model.ckpt
passed=0 failed=0
check() {   # check NAME CONDITION-STATUS MESSAGE
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: $3"; fi
}

# the first version, and how long one save takes here
"$loop" write "$ck" "$MB" 1 >"$work/out" 2>&1 &
pid=$!
while ! grep -q "^saved 2 " "$work/out" && kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
ms=$(awk '/^saved 2 /{print $3}' "$work/out")
[ -n "$ms" ] || { cat "$work/out"; echo "crash_save: the writer did not save"; exit 2; }
[ "$ms" -ge 1 ] || ms=1
prev=$("$loop" verify "$ck" "$MB") || { echo "crash_save: the first checkpoint does not load"; exit 1; }
rm -f "$ck".tmp.*
echo "crash_save: one ${MB} MB save takes ${ms} ms; $ITERS kills at random moments"

# kills KIND ITERS: runs the loop; sets mid (kills inside a save) and damaged (bad loads)
kills() {
  local kind=$1 iters=$2 i
  mid=0 damaged=0 leftover=0
  for ((i = 1; i <= iters; i++)); do
    local start=$((prev + 1))
    "$loop" "$kind" "$ck" "$MB" "$start" >"$work/out" 2>"$work/err" &
    local pid=$!
    if [ "$kind" = unsafe ]; then   # in its in-place copy (at least 96 ms), whatever its save took
      local w
      for ((w = 0; w < 500; w++)); do grep -q '^copying' "$work/out" && break; sleep 0.01; done
      sleep "0.0$((RANDOM % 5))"
    else   # random delay: up to three saves, plus the start-up of the process
      sleep "$(awk -v r="$RANDOM" -v ms="$ms" 'BEGIN{printf "%.3f", (30 + r / 32768 * 3 * ms) / 1000}')"
    fi
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    local last saved got
    last=$(tail -n 1 "$work/out")
    saved=$(awk '/^saved /{k=$2} END{print k}' "$work/out")
    [ -n "$saved" ] || saved=$prev
    case $last in writing*) mid=$((mid + 1));; esac
    if ! got=$("$loop" verify "$ck" "$MB" 2>"$work/verr"); then
      damaged=$((damaged + 1))
      [ "$kind" = write ] && { echo "iteration $i: the checkpoint does not load:"; cat "$work/verr"; }
      # start the next iteration from a good checkpoint
      "$loop" write "$ck" "$MB" "$start" >"$work/out" 2>&1 &
      pid=$!
      while ! grep -q "^saved " "$work/out" && kill -0 $pid 2>/dev/null; do sleep 0.05; done
      kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
      prev=$("$loop" verify "$ck" "$MB") || return 1
      rm -f "$ck".tmp.* "$ck".staging
      [ "$kind" = unsafe ] && { tries=$i; return 0; }   # caught: the check works
      continue
    fi
    if [ "$got" != "$saved" ] && [ "$got" != $((saved + 1)) ]; then
      damaged=$((damaged + 1))
      echo "iteration $i: the checkpoint holds version $got, the last saved was $saved"
    fi
    # what the kill left beside the checkpoint: only temporary files
    for f in "$work"/*; do
      case $f in "$ck"|"$ck".tmp.*|"$ck".staging|"$work/out"|"$work/err"|"$work/verr") ;;
        *) damaged=$((damaged + 1)); echo "iteration $i: unexpected file $f";; esac
    done
    for f in "$ck".tmp.*; do [ -e "$f" ] && leftover=$((leftover + 1)); done
    rm -f "$ck".tmp.* "$ck".staging
    prev=$got
  done
}

kills write "$ITERS"
check "kill -9 during saves: the checkpoint always loads, with the right version" \
      "$([ "$damaged" = 0 ] && echo 0 || echo 1)" "$damaged of $ITERS kills damaged it"
check "kills landed inside saves" "$([ $((3 * mid)) -ge "$ITERS" ] && echo 0 || echo 1)" \
      "only $mid of $ITERS kills came during a save (machine too fast? raise CRASH_MB)"
echo "crash_save: $mid of $ITERS kills came during a save, none damaged the checkpoint;" \
     "$leftover left a temporary file"

tries=$UNSAFE_ITERS
kills unsafe "$UNSAFE_ITERS"
check "an in-place save is caught damaged" "$([ "$damaged" -gt 0 ] && echo 0 || echo 1)" \
      "no damage found in $UNSAFE_ITERS kills of the unsafe writer: the check sees nothing"
[ "$damaged" -gt 0 ] && echo "crash_save: the unsafe in-place writer was caught damaged at kill $tries"

# the order of the writer's system calls
if command -v strace >/dev/null && strace -f -qq -e trace=none true 2>/dev/null; then
  rm -f "$ck"
  strace -f -qq -e trace=openat,linkat,fsync,rename,close -o "$work/trace" \
    "$loop" once "$ck" 1 1 >"$work/out" 2>&1
  order=$(awk '/O_TMPFILE|model.ckpt.tmp/ && /open/ {fd=$NF; s="open"} /^[0-9]+ +fsync\(/ {s=s " fsync"}
               /rename\(/ {s=s " rename"; exit} END{print s}' "$work/trace")
  dirsync=$(awk '/rename\(/ {r=1} r && /O_DIRECTORY/ {d=1} r && d && /fsync\(/ {print "yes"; exit}' "$work/trace")
  check "fsync of the file before its rename, of the directory after" \
        "$([[ "$order" == *"fsync rename" ]] && [ "$dirsync" = yes ] && echo 0 || echo 1)" \
        "system calls: '$order', directory fsync after rename: '${dirsync:-no}'"
else
  echo "crash_save: strace is not usable here: the fsync order is not checked"
fi
echo "crash_save: $passed passed, $failed failed"
[ "$failed" = 0 ]
