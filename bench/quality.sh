#!/usr/bin/env bash
# bench/quality.sh [MODEL...]: the quality table. Each model is compiled with dmc
# and trained on its shared data set, and its PyTorch peer (bench/peers/) is trained
# on the same data with the same hyperparameters, for seeds 1, 2 and 3, both sides
# for all the model's epochs (no early stopping). The best-epoch test metric of each
# run (AUC; RMSE on held-out ratings for autorec, lower is better) is averaged over
# the seeds. Each run leaves bench/results/runs/MODEL.{dmc,torch}.SEED.json; the
# table bench/results/quality.md (included in BENCHMARKS.md by
# bench/write_benchmarks.sh) has a row for every model with runs there, so
# `bench/quality.sh autorec` measures autorec again and keeps the other rows.
# Tolerances: AUC within 0.005, RMSE within 2%, recall within 5% (relative).
# youtube_dnn's metric is recall@50 on the test rows (dmc's `train --valid` and its peer
# compute it alike: brute force over the item table), higher is better.
# Needs ../shared/data and Debian's python3-torch (scripts/deps.sh --bench).
#
# fnn starts from fm's checkpoint (`init checkpoint("fm.ckpt", ...)`, relative to the
# working directory): fm runs before fnn, and dmc's fnn of seed S starts from dmc's
# fm.ckpt of seed S (fm is trained for that seed first when it is not in the list).
# The fnn peer trains the fm peer itself, in the same process, with the same seed.
# Environment:
#   SEEDS="1 2 3"       the seeds
#   DMC_DATA=DIR        the data (default ../shared/data)
#   DMC_ROOT=DIR        build and run the dmc of another checkout (e.g. a `git archive
#                       HEAD` snapshot while this tree is being edited); its examples/
#                       are the models trained. Default: this checkout.
#   EPOCHS_<model>=N    train that model (both sides) for N epochs instead of the
#                       .model's (the table's epochs column shows it)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DMC_DATA:-../shared/data}
SEEDS=${SEEDS:-"1 2 3"}
ROOT=${DMC_ROOT:-.}
MODELS=("$@")
# default: every model with a peer, in the zoo's order (the table's ORDER below)
[ ${#MODELS[@]} -gt 0 ] || MODELS=(lr fm deep_crossing wide_deep deepfm neuralcf mlr pnn dcn fnn nfm afm
                                   xdeepfm din dien drn autorec youtube_dnn)
[ -d "$DATA" ] || { echo "bench/quality.sh: $DATA is absent; nothing to measure" >&2; exit 1; }
DATA=$(cd "$DATA" && pwd)
ROOT=$(cd "$ROOT" && pwd)
make -s -C "$ROOT" bin/dmc build/libdmcrt.a
DMC="$ROOT/bin/dmc"
# fm before fnn
fm_at=-1; fnn_at=-1
for i in "${!MODELS[@]}"; do
  [ "${MODELS[$i]}" = fm ] && fm_at=$i
  [ "${MODELS[$i]}" = fnn ] && fnn_at=$i
done
if [ $fm_at -gt $fnn_at ] && [ $fnn_at -ge 0 ]; then
  MODELS=("${MODELS[@]:0:$fnn_at}" fm "${MODELS[@]:$fnn_at:$((fm_at - fnn_at))}" "${MODELS[@]:$((fm_at + 1))}")
fi
out=bench/results; mkdir -p "$out/runs"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "== dmc: $DMC ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout"))" >&2
t_start=$(date +%s)
for m in "${MODELS[@]}"; do
  if grep -q '^data tsv' "$ROOT/examples/$m.model"; then tr="$DATA/mllatest/train.tsv"; te="$DATA/mllatest/test.tsv"
  else tr="$DATA/sparrow/train.csv"; te="$DATA/sparrow/test.csv"; fi
  "$DMC" "$ROOT/examples/$m.model" -o "$work/$m"
  epochs=$("$work/$m" info --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["epochs"])')
  override="EPOCHS_$m"
  epochs=${!override:-$epochs}
  t_model=$(date +%s)
  for s in $SEEDS; do
    echo "== $m seed $s ($epochs epochs)" >&2
    if [ "$m" = fnn ]; then    # dmc's fm.ckpt of this seed where fnn.model reads it
      if [ ! -f "$work/fm.$s.ckpt" ]; then
        [ -x "$work/fm" ] || "$DMC" "$ROOT/examples/fm.model" -o "$work/fm"
        echo "== fm seed $s (dmc, for fnn's initial tables)" >&2
        (cd "$work" && ./fm train "$tr" --valid "$te" --seed "$s" --patience 0 --threads 1 \
           -o "fm.$s.ckpt" -q > /dev/null)
      fi
      cp "$work/fm.$s.ckpt" "$work/fm.ckpt"
    fi
    (cd "$work" && "./$m" train "$tr" --valid "$te" --seed "$s" --epochs "$epochs" --patience 0 --threads 1 \
       -o "$m.ckpt" --json -q) > "$out/runs/$m.dmc.$s.json"
    [ "$m" != fm ] || [ -n "${EPOCHS_fm:-}" ] || cp "$work/fm.ckpt" "$work/fm.$s.ckpt"
    bench/torch_env.sh --threads 1 /usr/bin/python3 "bench/peers/$m.py" --train "$tr" --test "$te" \
       --epochs "$epochs" --seed "$s" --threads 1 --json > "$out/runs/$m.torch.$s.json"
  done
  echo "== $m: $(( $(date +%s) - t_model )) s for seeds $SEEDS" >&2
done
echo "== all models: $(( $(date +%s) - t_start )) s" >&2
/usr/bin/python3 - "$out" "$(bench/cpu.sh)" "${MODELS[*]}" <<'PY'
import json, statistics, sys, glob, os
out, cpu, ran = sys.argv[1], sys.argv[2], sys.argv[3]
# the zoo's order; models with runs but not listed come after, by name
ORDER = ["lr", "fm", "deep_crossing", "wide_deep", "deepfm", "neuralcf", "mlr", "pnn", "dcn", "fnn",
         "nfm", "afm", "xdeepfm", "din", "dien", "drn", "autorec", "youtube_dnn"]
have = sorted({os.path.basename(f).split(".")[0] for f in glob.glob(f"{out}/runs/*.dmc.*.json")})
models = [m for m in ORDER if m in have] + [m for m in have if m not in ORDER]
# metric -> (printed name, tolerance of dmc - PyTorch, relative?)
TOL = {"auc": ("AUC", 0.005, False), "rmse": ("RMSE", 0.02, True)}
rows = ["| model | data | epochs | metric | dmc (mean ± sd) | PyTorch (mean ± sd) | dmc − PyTorch | dmc s/epoch | PyTorch s/epoch |",
        "|---|---|---|---|---|---|---|---|---|"]
def runs(pattern):   # a run being written by another quality.sh is left out, said
    got = []
    for f in sorted(glob.glob(pattern)):
        try:
            got.append(json.load(open(f)))
        except ValueError:
            print(f"quality.sh: {f} is not complete JSON (a run in progress?): left out", file=sys.stderr)
    return got
for m in models:
    d, t = runs(f"{out}/runs/{m}.dmc.*.json"), runs(f"{out}/runs/{m}.torch.*.json")
    if not t or not d:
        continue
    metric = t[0].get("metric", "auc")
    da = [r["best"] for r in d]; ta = [r[f"best_{metric}"] for r in t]
    ds = statistics.mean(e["seconds"] for r in d for e in r["epochs"])
    ts = statistics.mean(r["seconds_per_epoch"] for r in t)
    data = "mllatest" if "mllatest" in t[0]["train"] else "sparrow"
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
    name, tol, rel = TOL.get(metric, (metric, 0.05, True))
    diff = statistics.mean(da) - statistics.mean(ta)
    if rel:
        off = abs(diff) > tol * statistics.mean(ta)
        shown = f"{diff:+.4f} ({100 * diff / statistics.mean(ta):+.1f}%){' (outside ' + format(100 * tol, 'g') + '%)' if off else ''}"
    else:
        shown = f"{diff:+.4f}{'' if abs(diff) <= tol else ' (outside ' + format(tol, 'g') + ')'}"
    rows.append(f"| {m} | {data} | {len(d[0]['epochs'])} | {name} | {statistics.mean(da):.4f} ± {sd(da):.4f} | "
                f"{statistics.mean(ta):.4f} ± {sd(ta):.4f} | {shown} | {ds:.2f} | {ts:.2f} |")
this = [m for m in models if m in ran.split()]
where = f"Runs on {cpu}" if len(this) == len(models) else f"Runs of {', '.join(this)} on {cpu}; the other models' from an earlier run"
text = where + ".\n\n" + "\n".join(rows) + "\n"
open(f"{out}/quality.md", "w").write(text)
print(text)
PY
bench/write_benchmarks.sh
