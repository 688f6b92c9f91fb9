#!/usr/bin/env bash
# bench/speed.sh [WORD...]: dmc against PyTorch on speed, in one run (`make bench`).
#
# Benchmarks: the configurations of bench/models/ (criteo_* on the Criteo-like shapes,
# din and dien on the behaviour-sequence shapes) and every example of examples/ that
# compiles (ex:NAME, in its own shapes). A WORD (or a word of BENCH_MODELS) selects
# the benchmarks named WORD, *_WORD or ex:WORD: `bench/speed.sh deepfm din` runs
# criteo_deepfm, ex:deepfm, din and ex:din.
# For each: the compile time of `dmc X.model -o X` (median of 3; 1 for a compile over
# 5 s), `dmc X.model --report` (FLOPs and bytes per example), then rounds of
#   X bench --json --zipf Z --time S --threads T          (runtime/bench.c)
#   bench/torch_env.sh --threads T python3 bench/torch/bench.py X ...   (the same in PyTorch)
# for each T of BENCH_THREADS, the two sides alternating (dmc, PyTorch, dmc, PyTorch), at
# the model's training batch;
# the figures are the medians over the rounds. The machine's ceilings come from
# bench/roofline/roofline.c (FMA peak, L1/L2/DRAM read bandwidth, 1 and 2 threads).
# Writes bench/results/speed.md, speed.svg, speed.json (the medians) and speed_runs/ (each
# run's own output), then BENCHMARKS.md (bench/write_benchmarks.sh). Needs
# scripts/deps.sh --bench.
#
# Environment:
#   BENCH_MODELS="deepfm din"  the words, when none is given on the command line
#   BENCH_QUICK=1      a quick look: 0.3 s per measurement, 1 round, 1 thread, compile once
#   BENCH_TIME=S       seconds per measurement (default 1; training 1.5 S)
#   BENCH_ROUNDS=N     rounds (default 2)
#   BENCH_THREADS="1 2"  thread counts (default "1 2")
#   BENCH_ZIPF=1.1     skew of the ids drawn (default 1.1)
#   BENCH_TORCH=0      dmc only
set -euo pipefail
cd "$(dirname "$0")/.."
ZIPF=${BENCH_ZIPF:-1.1}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  TIME=${BENCH_TIME:-0.3}; ROUNDS=${BENCH_ROUNDS:-1}; THREADS=${BENCH_THREADS:-1}; COMPILES=1; DRAM=256
else
  TIME=${BENCH_TIME:-1}; ROUNDS=${BENCH_ROUNDS:-2}; THREADS=${BENCH_THREADS:-"1 2"}; COMPILES=3; DRAM=1024
fi
TORCH=${BENCH_TORCH:-1}
WORDS=("$@")
[ ${#WORDS[@]} -gt 0 ] || read -r -a WORDS <<< "${BENCH_MODELS:-}"

make -s bin/dmc build/libdmcrt.a
out=bench/results; runs=$out/speed_runs
rm -rf "$runs"; mkdir -p "$runs"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
t_start=$(date +%s)

# the benchmarks: id, .model, peer (bench/torch/bench.py's MODEL, or - for none)
ids=(); files=(); peers=()
selected() {   # selected ID: whether a word names it (every benchmark without words)
  [ ${#WORDS[@]} -eq 0 ] && return 0
  local w
  for w in "${WORDS[@]}"; do
    case "$1" in "$w"|*_"$w"|ex:"$w") return 0 ;; esac
  done
  return 1
}
for f in bench/models/*.model; do
  id=$(basename "$f" .model)
  selected "$id" && { ids+=("$id"); files+=("$f"); peers+=("$id"); }
done
for f in examples/*.model; do
  m=$(basename "$f" .model)
  peer=-; [ -f "bench/peers/$m.py" ] && peer="example:$m"
  selected "ex:$m" && { ids+=("ex:$m"); files+=("$f"); peers+=("$peer"); }
done
[ ${#ids[@]} -gt 0 ] || { echo "bench/speed.sh: no benchmark is named ${WORDS[*]}" >&2; exit 2; }

{
  echo "{\"date\": \"$(date -u '+%Y-%m-%d %H:%M UTC')\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo '?')\","
  echo " \"cpu\": \"$(bench/cpu.sh)\", \"cores\": $(nproc),"
  echo " \"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"time\": $TIME, \"rounds\": $ROUNDS,"
  echo " \"threads\": \"$THREADS\", \"zipf\": $ZIPF, \"torch\": $TORCH}"
} > "$runs/meta.json"

echo "== roofline (bench/roofline/roofline.c)" >&2
${CC:-cc} -std=c11 -O2 -pthread bench/roofline/roofline.c -o "$work/roofline"
"$work/roofline" --threads 2 --dram-mib "$DRAM" > "$runs/roofline.json"
cat "$runs/roofline.json" >&2
if [ "$TORCH" = 1 ]; then
  for t in $THREADS; do
    echo "== PyTorch's setting, $t thread(s) (bench/torch_env.sh check)" >&2
    bench/torch_env.sh --threads "$t" check > "$runs/torch_check.$t.txt" 2>&1 || true
    cat "$runs/torch_check.$t.txt" >&2
  done
fi

for k in "${!ids[@]}"; do
  id=${ids[$k]}; f=${files[$k]}; peer=${peers[$k]}; key=${id/:/_}
  prog="$work/$key"
  ms=()
  for ((i = 0; i < COMPILES; i++)); do
    s=$(date +%s%N)
    if ! bin/dmc "$f" -o "$prog" 2> "$work/err"; then
      echo "== $id: does not compile: $(grep -m1 'error' "$work/err")" >&2
      ms=(); break
    fi
    ms+=($(( ($(date +%s%N) - s) / 1000000 )))
    [ "${ms[0]}" -lt 5000 ] || break
  done
  [ ${#ms[@]} -gt 0 ] || { echo "{\"id\": \"$id\", \"error\": \"does not compile\"}" > "$runs/$key.skip.json"; continue; }
  bin/dmc "$f" --report > "$runs/$key.report.txt"
  printf '%s\n' "${ms[@]}" > "$runs/$key.compile_ms.txt"
  echo "== $id: compiled in ${ms[*]} ms" >&2
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in $THREADS; do
      "$prog" bench --json --zipf "$ZIPF" --time "$TIME" --threads "$t" > "$runs/$key.dmc.$t.$r.json" 2> "$work/err" ||
        { echo "== $id: dmc bench failed: $(tail -1 "$work/err")" >&2; rm -f "$runs/$key.dmc.$t.$r.json"; }
      if [ "$TORCH" = 1 ] && [ "$peer" != - ]; then
        batch=$("$prog" info --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["batch"])')
        bench/torch_env.sh --threads "$t" /usr/bin/python3 bench/torch/bench.py "$peer" --json --zipf "$ZIPF" \
          --time "$TIME" --threads "$t" --batch "$batch" > "$runs/$key.torch.$t.$r.json" 2> "$work/err" ||
          { echo "== $id: PyTorch bench failed: $(tail -1 "$work/err")" >&2; rm -f "$runs/$key.torch.$t.$r.json"; }
      fi
    done
  done
  echo "== $id: done ($(( $(date +%s) - t_start )) s so far, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
echo "$(cut -d' ' -f1-3 /proc/loadavg)" > "$runs/load_after.txt"
echo "== all: $(( $(date +%s) - t_start )) s" >&2
/usr/bin/python3 bench/speed_report.py "$runs" "$out" "${ids[@]}"
bench/write_benchmarks.sh
