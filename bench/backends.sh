#!/usr/bin/env bash
# bench/backends.sh [MODEL...]: the two backends side by side. For each example that
# compiles to a program: the time from starting dmc to a runnable program (median of
# 3), and the program's own `bench` (batch-1 latency p50/p99, batch-1024 inference
# rows/s, training rows/s at the model's batch; one thread), for --backend=c and
# --backend=llvm. Writes bench/results/backends.md, then BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s bin/dmc build/libdmcrt.a
MODELS=("$@")
if [ ${#MODELS[@]} -eq 0 ]; then for f in examples/*.model; do MODELS+=("$(basename "$f" .model)"); done; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
out=bench/results; mkdir -p "$out"
rows=()
for m in "${MODELS[@]}"; do
  line="| $m"
  ok=1
  for be in c llvm; do
    times=()
    for i in 1 2 3; do
      s=$(date +%s%N)
      if ! bin/dmc "examples/$m.model" --backend=$be -o "$work/$m.$be" 2> "$work/err"; then ok=0; break; fi
      times+=($(( ($(date +%s%N) - s) / 1000000 )))
    done
    [ $ok = 1 ] || break
    ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    "$work/$m.$be" bench --json > "$work/$m.$be.json"
    line+=$(/usr/bin/python3 - "$work/$m.$be.json" "$ms" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print(f" | {int(sys.argv[2])} ms | {b['latency_p50_us']:.1f} / {b['latency_p99_us']:.1f} | {b['infer_rows_per_s']/1e3:.1f}k | {b['train_rows_per_s']/1e3:.1f}k", end="")
PY
)
  done
  if [ $ok = 1 ]; then rows+=("$line |"); echo "$line |" >&2
  else echo "skip $m: $(grep -o 'error: .*' "$work/err" | head -1)" >&2; fi
done
{
  echo "On $(bench/cpu.sh)."
  echo
  echo "| model | C: compile | C: latency p50 / p99 (µs) | C: infer rows/s | C: train rows/s | LLVM: compile | LLVM: latency p50 / p99 (µs) | LLVM: infer rows/s | LLVM: train rows/s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > "$out/backends.md"
cat "$out/backends.md"
bench/write_benchmarks.sh
