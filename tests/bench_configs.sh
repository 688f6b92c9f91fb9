#!/usr/bin/env bash
# tests/bench_configs.sh -- the speed benchmark's parts do not rot (`make bench` is not
# part of `make test`; this is its cheap stand-in, with no timing asserted).
#
#   tests/bench_configs.sh [DMC]      (default bin/dmc)
#
# Every bench/models/*.model checks; criteo_deepfm and din compile and their `bench`
# runs on a tiny setting (--time 0.01, 1 and 2 threads, Zipf ids) and reports every
# figure, with the threads each used (all three phases use --threads); bad bench options are usage errors; `synth --zipf`
# skews the ids and gives a behaviour list and its categories the same length; --profile
# lists each phase's costliest kernels;
# bench/roofline/roofline.c compiles warning-free; bench/speed_report.py turns the tiny
# run into a table and a chart; the PyTorch scripts are valid Python (not run: they need
# python3-torch, which only `scripts/deps.sh --bench` installs).
# Ends with "bench_configs: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
dmc=$(realpath "${1:-bin/dmc}")
work=$(mktemp -d /tmp/dmc-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() {   # ok NAME STATUS [DETAIL]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1 ${3:-}"; fi
}

for f in bench/models/*.model; do
  "$dmc" check "$f" > "$work/out" 2>&1
  ok "dmc check $f" $? "$(cat "$work/out")"
done

# one JSON field of FILE, as python reads it
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
positive() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$1"; }

mkdir -p "$work/runs"
for m in criteo_deepfm din; do
  "$dmc" "bench/models/$m.model" -o "$work/$m" 2> "$work/err"
  ok "$m compiles" $? "$(cat "$work/err")"
  for t in 1 2; do
    "$work/$m" bench --json --time 0.01 --threads $t --zipf 1.1 > "$work/runs/$m.dmc.$t.1.json" 2> "$work/err"
    ok "$m bench --threads $t runs" $? "$(cat "$work/err")"
    for k in latency_p50_us latency_p99_us infer_rows_per_s train_rows_per_s; do
      positive "$(field "$work/runs/$m.dmc.$t.1.json" $k 2>&1)"
      ok "$m bench --threads $t: $k > 0" $? "$(cat "$work/runs/$m.dmc.$t.1.json")"
    done
    [ "$(field "$work/runs/$m.dmc.$t.1.json" infer_threads)" = $t ] &&
      [ "$(field "$work/runs/$m.dmc.$t.1.json" train_threads)" = $t ] &&
      [ "$(field "$work/runs/$m.dmc.$t.1.json" latency_threads)" = $t ]
    ok "$m bench --threads $t: the threads each figure used" $? "$(cat "$work/runs/$m.dmc.$t.1.json")"
  done
  "$dmc" "bench/models/$m.model" --report > "$work/runs/$m.report.txt"
  echo 5 > "$work/runs/$m.compile_ms.txt"
done

# --profile: each phase timed kernel by kernel, the costliest listed (din's attention
# MLP runs as fused kernels headed by its matmul), and the optimizer steps, which
# run no kernel, on a line of their own
"$work/din" bench --time 0.01 --profile > "$work/profile.txt" 2> "$work/err"
ok "din bench --profile runs" $? "$(cat "$work/err")"
grep -q "^  batch 1024, 4 batches (in the forward calls predict makes): [0-9]* kernels" "$work/profile.txt" &&
  grep -q "^  training, 8 steps" "$work/profile.txt" && grep -q "fused\[matmul add" "$work/profile.txt"
ok "din bench --profile lists the kernels of each phase" $? "$(cat "$work/profile.txt")"
grep -q "^  optimizer steps (dense and table rows' updates): [0-9.]* ms a step, [0-9.]*% of the 8 steps'" "$work/profile.txt"
ok "din bench --profile times the optimizer steps apart" $? "$(cat "$work/profile.txt")"

for bad in "--threads 0" "--zipf -1" "--time 0" "--zipf x" "--epochs 2"; do
  # shellcheck disable=SC2086
  "$work/din" bench $bad > /dev/null 2> "$work/err"
  st=$?
  [ $st = 2 ] && grep -q "din bench: " "$work/err"
  ok "bench $bad is a usage error" $? "status $st: $(cat "$work/err")"
done

# synth: Zipf(2) puts about 60% of a field on its most frequent id, uniform draws ~0%
top_share() {   # top_share FILE COLUMN: the share of the most frequent value of a TSV column
  awk -F'\t' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
    { n[$k]++; rows++ } END { for (v in n) if (n[v] > top) top = n[v]; printf "%.3f\n", top / rows }' "$1"
}
"$work/criteo_deepfm" synth 2000 --zipf 2 -o "$work/z2.tsv" && "$work/criteo_deepfm" synth 2000 --zipf 0 -o "$work/z0.tsv"
ok "synth --zipf" $?
s2=$(top_share "$work/z2.tsv" C7) s0=$(top_share "$work/z0.tsv" C7)
awk -v a="$s2" -v b="$s0" 'BEGIN { exit !(a > 0.4 && b < 0.05) }'
ok "synth --zipf 2 skews the ids, --zipf 0 does not" $? "top share $s2 and $s0"
"$work/din" synth 300 -o "$work/din.tsv"
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) k[$i] = i; next }
  { if (split($k["hist_items"], a, ",") != split($k["hist_cats"], b, ",")) bad++ } END { exit bad > 0 }' "$work/din.tsv"
ok "synth: a behaviour list and its categories have the same length" $?

cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -pthread bench/roofline/roofline.c -o "$work/roofline" 2> "$work/err"
ok "roofline.c compiles warning-free" $? "$(cat "$work/err")"

cat > "$work/runs/meta.json" <<'EOF'
{"date": "test", "commit": "test", "cpu": "test", "cores": 2, "load_before": "0 0 0", "time": 0.01,
 "rounds": 1, "threads": "1 2", "zipf": 1.1, "torch": 0}
EOF
cat > "$work/runs/roofline.json" <<'EOF'
{"threads_1": {"fma_avx512_gflops": 100.0, "fma_avx2_gflops": 50.0, "read_l1_gbs": 200.0,
 "read_l2_gbs": 100.0, "read_dram_gbs": 10.0},
 "threads_2": {"fma_avx512_gflops": 200.0, "fma_avx2_gflops": 100.0, "read_l1_gbs": 400.0,
 "read_l2_gbs": 200.0, "read_dram_gbs": 20.0}, "threads": 2}
EOF
# the 1-thread latency table, then the one of a request shared by 2 threads, din in each
python3 bench/speed_report.py "$work/runs" "$work/report" criteo_deepfm din > "$work/err" 2>&1 &&
  awk '/^### Batch-1 latency \(1 thread each\)/ { s = 1 } /^### Batch-1 latency, one request on 2 threads/ { s = 2 }
    /^### Inference/ { s = 0 } s && /^\| din \| [0-9,]* \|/ { seen[s] = 1 } END { exit !(seen[1] && seen[2]) }' \
    "$work/report/speed.md" && grep -q "<svg" "$work/report/speed.svg"
ok "speed_report.py: tables (latency at 1 and 2 threads) and chart" $? "$(tail -5 "$work/err") $(head -40 "$work/report/speed.md")"

python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' \
  bench/torch/models.py bench/torch/bench.py bench/speed_report.py 2> "$work/err"
ok "the PyTorch side is valid Python" $? "$(cat "$work/err")"

echo "bench_configs: $passed passed, $failed failed"
[ "$failed" = 0 ]
