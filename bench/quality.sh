#!/usr/bin/env bash
# bench/quality.sh [MODEL...]: the quality table. Each model is compiled with dmc
# and trained on its shared data set, and its PyTorch peer (bench/peers/) is trained
# on the same data with the same hyperparameters, for seeds 1, 2 and 3, both sides
# for all the model's epochs (no early stopping). The best-epoch test AUC of each
# run is averaged over the seeds. Writes bench/results/quality.md (included in
# BENCHMARKS.md by bench/write_benchmarks.sh) and prints it.
# Needs ../shared/data and Debian's python3-torch (scripts/deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DMC_DATA:-../shared/data}
SEEDS=${SEEDS:-"1 2 3"}
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(lr fm deep_crossing wide_deep deepfm neuralcf)
[ -d "$DATA" ] || { echo "bench/quality.sh: $DATA is absent; nothing to measure" >&2; exit 1; }
DATA=$(cd "$DATA" && pwd)
make -s bin/dmc build/libdmcrt.a
out=bench/results; mkdir -p "$out/runs"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for m in "${MODELS[@]}"; do
  if grep -q '^data tsv' "examples/$m.model"; then tr="$DATA/mllatest/train.tsv"; te="$DATA/mllatest/test.tsv"
  else tr="$DATA/sparrow/train.csv"; te="$DATA/sparrow/test.csv"; fi
  bin/dmc "examples/$m.model" -o "$work/$m"
  epochs=$("$work/$m" info --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["epochs"])')
  for s in $SEEDS; do
    echo "== $m seed $s ($epochs epochs)" >&2
    (cd "$work" && "./$m" train "$tr" --valid "$te" --seed "$s" --epochs "$epochs" --patience 0 --threads 1 \
       -o "$m.ckpt" --json -q) > "$out/runs/$m.dmc.$s.json"
    bench/torch_env.sh --threads 1 /usr/bin/python3 "bench/peers/$m.py" --train "$tr" --test "$te" \
       --epochs "$epochs" --seed "$s" --threads 1 --json > "$out/runs/$m.torch.$s.json"
  done
done
/usr/bin/python3 - "$out" "${MODELS[@]}" <<'PY'
import json, statistics, sys, glob, os
out, models = sys.argv[1], sys.argv[2:]
rows = ["| model | data | epochs | dmc AUC (mean ± sd) | PyTorch AUC (mean ± sd) | dmc − PyTorch | dmc s/epoch | PyTorch s/epoch |",
        "|---|---|---|---|---|---|---|---|"]
for m in models:
    d = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/runs/{m}.dmc.*.json"))]
    t = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/runs/{m}.torch.*.json"))]
    da = [r["best"] for r in d]; ta = [r["best_auc"] for r in t]
    ds = statistics.mean(e["seconds"] for r in d for e in r["epochs"])
    ts = statistics.mean(r["seconds_per_epoch"] for r in t)
    data = "mllatest" if "mllatest" in t[0]["train"] else "sparrow"
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
    diff = statistics.mean(da) - statistics.mean(ta)
    rows.append(f"| {m} | {data} | {len(d[0]['epochs'])} | {statistics.mean(da):.4f} ± {sd(da):.4f} | "
                f"{statistics.mean(ta):.4f} ± {sd(ta):.4f} | {diff:+.4f}{'' if abs(diff) <= 0.005 else ' (outside 0.005)'} | "
                f"{ds:.2f} | {ts:.2f} |")
text = "\n".join(rows) + "\n"
open(f"{out}/quality.md", "w").write(text)
print(text)
PY
bench/write_benchmarks.sh
