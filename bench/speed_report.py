"""Tables and chart of bench/speed.sh: python3 bench/speed_report.py RUNS OUT ID...

RUNS holds one run's files (meta.json, roofline.json, torch_check.T.txt, and per
benchmark KEY.report.txt, KEY.compile_ms.txt, KEY.dmc.T.R.json, KEY.torch.T.R.json);
writes OUT/speed.md (the section of BENCHMARKS.md), OUT/speed.svg (speedups, log scale)
and OUT/speed.json (the medians). Figures are medians over the rounds; a speedup is
dmc's rate over PyTorch's (or PyTorch's latency over dmc's): above 1, dmc is faster.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

RUNS, OUT, IDS = sys.argv[1], sys.argv[2], sys.argv[3:]
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def cache_size(b):   # 512 KiB, not "0 MiB"
    return f"{b >> 20} MiB" if b >= 1 << 20 and b % (1 << 20) == 0 else f"{b >> 10} KiB"


def load(path):
    with open(path) as f:
        return json.load(f)


def report(key):
    """FLOPs and gathered bytes per example, of the whole forward and of the outputs alone
    (scoring: what latency and inference run), a training step's FLOPs (forward and
    backward), dense-weight bytes (dmc --report)."""
    flops = gathered = dense = train = 0
    score = None
    with open(f"{RUNS}/{key}.report.txt") as f:
        for line in f:
            m = re.match(r"\s+(total|scoring \(the outputs alone\))\s+([\d,]+)\s+([\d.]+) (B|KiB|MiB|GiB)", line)
            if m:
                fl, by = int(m[2].replace(",", "")), float(m[3]) * UNITS[m[4]]
                if m[1] == "total":
                    flops, gathered = fl, by
                else:
                    score = (fl, by)
                continue
            m = re.match(r"\s+training step \(forward \+ backward\)\s+([\d,]+)", line)
            if m:
                train = int(m[1].replace(",", ""))
                continue
            m = re.match(r"\s+\S+\s+\[[\d,]*\]\s+([\d,]+)\s+[\d.]+ (?:B|KiB|MiB|GiB)(\s+table)?\s*$", line)
            if m and not m[2]:
                dense += 4 * int(m[1].replace(",", ""))
    return flops, gathered, dense, score or (flops, gathered), train


def medians(side, key, t):
    runs = [load(p) for p in sorted(glob.glob(f"{RUNS}/{key}.{side}.{t}.*.json"))]
    if not runs:
        return None
    out = {}
    for k in runs[0]:
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
        out[k] = statistics.median(vals) if len(vals) == len(runs) else runs[0][k]
    out["rounds"] = len(runs)
    return out


def cache_bytes(index, default):
    """Size of cpu0's cache `index` (2: L2, 3: L3) from sysfs."""
    try:
        with open(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size") as f:
            s = f.read().strip()
        return int(s[:-1]) * {"K": 1024, "M": 1024 ** 2}[s[-1]]
    except (OSError, ValueError, KeyError):
        return default


meta, roof = load(f"{RUNS}/meta.json"), load(f"{RUNS}/roofline.json")
threads = [int(t) for t in str(meta["threads"]).split()]


def measured_peak(t):
    r = roof.get(f"threads_{t}") or roof["threads_1"]
    return 1e9 * (r["fma_avx512_gflops"] or r["fma_avx2_gflops"])


# A t-thread FMA peak far under t times one thread's was measured while another tenant
# held a core (one run: 113 against 2 x 101 GFLOP/s; 186 an hour later): shares of it
# above 100% would mean nothing, so such a t counts t times one thread's peak, and says so
busy_peak = {t for t in threads if t > 1 and measured_peak(t) < 0.8 * t * measured_peak(1)}


def peak(t):
    return t * measured_peak(1) if t in busy_peak else measured_peak(t)


def bw(level, t=1):
    return 1e9 * roof[f"threads_{t}"][f"read_{level}_gbs"]


def torch_check(t):
    try:
        with open(f"{RUNS}/torch_check.{t}.txt") as f:
            lines = [l.strip() for l in f if l.startswith("F.linear") and f"{t} thread" in l]
        return lines[-1] if lines else ""
    except OSError:
        return ""


def torch_gflops(t):
    """GFLOP/s of bench/torch_env.sh check's GEMM on t threads, or None."""
    m = re.search(r"([\d.]+) GFLOP/s", torch_check(t))
    return float(m[1]) if m else None


# PyTorch's figures at t threads mean nothing when its GEMM check falls far short (an
# oversubscribed machine stalls OpenMP's barriers): such columns are marked, not hidden
suspect = {t for t in threads if torch_check(t) and (torch_gflops(t) or 0) < 50 * t}
L2, L3 = cache_bytes(2, 1 << 20), cache_bytes(3, 32 << 20)


def bound(flops, dense, gathered, t):
    """Roofline bound at batch 1 on t threads sharing the request, in µs, and what binds:
    the FLOPs at t threads' peak, or the bytes touched (dense weights + gathered rows) at
    t threads' bandwidth of the smallest cache the weights fit in (t L2s hold t times as
    much: each thread streams its own share of the weights)."""
    level = "l2" if dense <= t * L2 else "l3" if dense <= L3 and roof["threads_1"].get("read_l3_gbs") else "dram"
    by_flops, by_bytes = flops / peak(t), (dense + gathered) / bw(level, t)
    return 1e6 * max(by_flops, by_bytes), "FLOPs" if by_flops >= by_bytes else f"bytes from {level.upper()}"
rows = []
for bid in IDS:
    key = bid.replace(":", "_")
    if not os.path.exists(f"{RUNS}/{key}.report.txt"):
        rows.append(dict(id=bid, error="does not compile"))
        continue
    flops, gathered, dense, (score_flops, score_gathered), train_flops = report(key)
    with open(f"{RUNS}/{key}.compile_ms.txt") as f:
        ms = [int(x) for x in f.read().split()]
    r = dict(id=bid, flops=flops, score_flops=score_flops, train_flops=train_flops, gathered=score_gathered,
             dense_bytes=dense,
             compile_ms=statistics.median(ms),
             dmc={t: medians("dmc", key, t) for t in threads}, torch={t: medians("torch", key, t) for t in threads})
    r["bound"] = {t: bound(score_flops, dense, score_gathered, t) for t in sorted(set(threads + [1]))}
    rows.append(r)


def fmt_rate(x):
    if x is None:
        return "n/a"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def fmt_us(x):
    return "n/a" if x is None else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def get(d, k):
    return None if d is None else d.get(k)


def best_torch(tr):
    """PyTorch's best inference rate (eager or TorchScript) and which it was."""
    e, s = get(tr, "eager_infer_rows_per_s"), get(tr, "script_infer_rows_per_s")
    if e is None and s is None:
        return None, ""
    return (s, "TS") if s is not None and (e is None or s > e) else (e, "eager")


t1 = threads[0]
LAT_HEAD = ["| benchmark | FLOPs / example | bytes / example (weights + gathered) | roofline bound (µs) | dmc p50 / p99 (µs) | dmc / bound | PyTorch eager p50 / p99 | TorchScript p50 / p99 | speedup vs eager | vs TorchScript |",
            "|---|---|---|---|---|---|---|---|---|---|"]
lat = {t: list(LAT_HEAD) for t in threads}


def lat_row(r, t):
    d, p = r["dmc"][t], r["torch"][t]
    dl, el, sl = get(d, "latency_p50_us"), get(p, "eager_latency_p50_us"), get(p, "script_latency_p50_us")
    b, by = r["bound"][t]
    return (f"| {r['id']} | {r['score_flops']:,} | {(r['dense_bytes'] + r['gathered']) / 1024:,.1f} KiB | "
            f"{b:.2f} ({by}) | {fmt_us(dl)} / {fmt_us(get(d, 'latency_p99_us'))} | "
            f"{fmt_x(ratio(dl, b))} | {fmt_us(el)} / {fmt_us(get(p, 'eager_latency_p99_us'))} | "
            f"{fmt_us(sl)} / {fmt_us(get(p, 'script_latency_p99_us'))} | {fmt_x(ratio(el, dl))} | {fmt_x(ratio(sl, dl))} |")


inf = ["| benchmark | " + " | ".join(f"dmc rows/s, {t}T | PyTorch best, {t}T | speedup {t}T | dmc GFLOP/s {t}T (% of peak)" for t in threads) + " |",
       "|---|" + "---|---|---|---|" * len(threads)]
trn = ["| benchmark | compile (ms) | batch | " + " | ".join(f"dmc rows/s, {t}T | PyTorch rows/s, {t}T | speedup {t}T | dmc GFLOP/s {t}T (% of peak)" for t in threads) + " |",
       "|---|---|---|" + "---|---|---|---|" * len(threads)]
serial_train = False
chart = []
for r in rows:
    if "error" in r:
        for t in threads:
            lat[t].append(f"| {r['id']} | does not compile |" + " |" * 8)
        continue
    d1, p1 = r["dmc"][t1], r["torch"][t1]
    dl, el, sl = get(d1, "latency_p50_us"), get(p1, "eager_latency_p50_us"), get(p1, "script_latency_p50_us")
    for t in threads:
        lat[t].append(lat_row(r, t))
    cells_i, cells_t = [], []
    for t in threads:
        d, p = r["dmc"][t], r["torch"][t]
        di = get(d, "infer_rows_per_s")
        pb, how = best_torch(p)
        gi = None if di is None else r["score_flops"] * di
        warn = " ⚠" if t in suspect and pb is not None else ""
        cells_i.append(f"{fmt_rate(di)} | {fmt_rate(pb)}{f' ({how})' if how else ''}{warn} | {fmt_x(ratio(di, pb))}{warn} | "
                       + ("n/a" if gi is None else f"{gi / 1e9:.1f} ({100 * gi / peak(t):.1f}%)"))
        dt, pt = get(d, "train_rows_per_s"), get(p, "train_rows_per_s")
        mark = ""
        if d is not None and d.get("train_threads", t) < t:
            mark, serial_train = " ¹", True
        gt = None if dt is None else r["train_flops"] * dt
        warn = " ⚠" if t in suspect and pt is not None else ""
        cells_t.append(f"{fmt_rate(dt)}{mark} | {fmt_rate(pt)}{warn} | {fmt_x(ratio(dt, pt))}{warn} | "
                       + ("n/a" if gt is None else f"{gt / 1e9:.1f} ({100 * gt / peak(t):.1f}%)"))
    inf.append(f"| {r['id']} | " + " | ".join(cells_i) + " |")
    batch = get(d1, "train_batch")
    trn.append(f"| {r['id']} | {r['compile_ms']:.0f} | {'n/a' if batch is None else int(batch)} | "
               + " | ".join(cells_t) + " |")
    chart.append((r["id"], ratio(sl if sl is not None else el, dl),
                  ratio(get(d1, "infer_rows_per_s"), best_torch(p1)[0]),
                  ratio(get(d1, "train_rows_per_s"), get(p1, "train_rows_per_s"))))


def roof_line(t):
    x = roof.get(f"threads_{t}")
    if not x:
        return ""
    a512 = f"{x['fma_avx512_gflops']:.0f}" if x["fma_avx512_gflops"] else "n/a"
    l3 = f", L3 {x['read_l3_gbs']:.0f}" if x.get("read_l3_gbs") else ""
    return (f"{t} thread(s): FMA peak {a512} GFLOP/s (AVX-512), {x['fma_avx2_gflops']:.0f} (AVX2); "
            f"read bandwidth L1 {x['read_l1_gbs']:.0f}, L2 {x['read_l2_gbs']:.0f}{l3}, DRAM {x['read_dram_gbs']:.1f} GB/s")


try:
    with open(f"{RUNS}/load_after.txt") as f:
        load_after = f.read().strip()
except OSError:
    load_after = "?"
md = [f"Run of {meta['date']} at commit {meta['commit']} on {meta['cpu']}: {len(rows)} benchmarks, {meta['rounds']} round(s) "
      f"of {meta['time']} s per measurement, threads {meta['threads']}, ids Zipf({meta['zipf']}). "
      f"Load average before: {meta['load_before']}; after: {load_after} (the machine is shared: "
      "figures swing with the load).", "",
      "Machine (bench/roofline/roofline.c: best of 15 runs, per CPU-second of each thread):", ""]
md += [f"- {roof_line(t)}" for t in sorted(set(threads + [1]))]
md += [f"- ⚠ The {t}-thread FMA peak measured {measured_peak(t) / 1e9:.0f} GFLOP/s, under {t} times one "
       f"thread's {measured_peak(1) / 1e9:.0f}: a core was busy while it was measured; shares of the peak at "
       f"{t} threads are taken against {peak(t) / 1e9:.0f}." for t in sorted(busy_peak)]
md += [f"- PyTorch check (bench/torch_env.sh check): {torch_check(t)}" for t in threads if torch_check(t)]
md += [f"- ⚠ PyTorch's GEMM reached {torch_gflops(t):.0f} GFLOP/s on {t} thread(s), far below ~{100 * t}: "
       f"its {t}-thread figures (marked ⚠) are not PyTorch at its best (on a busy machine its OpenMP "
       "threads stall at every barrier), and the speedups against them are inflated. Do not quote them."
       for t in sorted(suspect)]
md += ["", f"### Batch-1 latency ({t1} thread{'s' if t1 > 1 else ''} each)", "",
       "Both compute the outputs alone (FLOPs / example: `dmc --report`'s scoring line). "
       "Roofline bound: those FLOPs at the FMA peak, or the bytes touched (dense weights "
       "plus gathered embedding rows) at the read bandwidth of the smallest cache the dense weights "
       f"fit in (L2 {cache_size(L2)} per core, L3 {cache_size(L3)}, else DRAM), whichever is longer. Speedups are "
       "PyTorch's p50 over dmc's.", ""] + lat[t1]
for t in threads[1:]:
    md += ["", f"### Batch-1 latency, one request on {t} threads", "",
           f"Each call shared by {t} threads: dmc splits the columns of every GEMM whose weight has at least "
           "65,536 elements among them (runtime/kernels.c), its pool spinning between kernels; PyTorch "
           f"runs with torch.set_num_threads({t}). The bound is that of {t} threads: their FMA peak, "
           f"or their summed bandwidth of {t} L2s (each streams its share of the weights).", ""] + lat[t]
md += ["", "### Inference at batch 1024", "",
       "dmc: `PROG bench --threads T` (T workers, each scoring its share of the batch); PyTorch: "
       "torch.set_num_threads(T), the better of eager and TorchScript (TS). Both compute the outputs "
       "alone, as predict and a server do. GFLOP/s: the scoring FLOPs (`dmc --report`: the outputs "
       "alone) times rows/s, against the FMA peak of T threads.", ""] + inf
md += ["", "### Training (batch 256; an example at its own batch)", "",
       "Forward, backward and optimizer step. PyTorch: sparse embedding gradients with SparseAdam "
       "(examples: the peer's optimizers), Adam for the dense weights, eager. GFLOP/s: a training "
       "step's FLOPs per example (`dmc --report`: forward and backward of the model as written, "
       "not what a kernel recomputes) times rows/s, against the FMA peak of T threads.", ""] + trn
if serial_train:
    md += ["", "¹ dmc trained on one thread: its training is serial today, and `bench --threads` only "
           "spreads the batch-1024 inference over threads (the JSON's `train_threads`)."]
os.makedirs(OUT, exist_ok=True)
with open(f"{OUT}/speed.md", "w") as f:
    f.write("\n".join(md) + "\n")
with open(f"{OUT}/speed.json", "w") as f:
    json.dump(dict(meta=meta, roofline=roof, rows=rows), f, indent=1, default=str)

# the chart: per benchmark three bars, log2 scale, 1x marked
names = ["latency vs TorchScript (1T)", "inference 1024 vs PyTorch's best (1T)", "training (1T)"]
colors = ["#4C72B0", "#55A868", "#C44E52"]
vals = [v for c in chart for v in c[1:] if v]
lo = min([0.25] + vals)
hi = max([4.0] + vals)
lo2, hi2 = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
left, width, bar, gap, top = 150, 620, 7, 8, 50
H = top + len(chart) * (3 * bar + gap) + 40
W = left + width + 30


def xpos(v):
    return left + width * (math.log2(v) - lo2) / (hi2 - lo2)


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{left}" y="16" font-size="13">dmc speedup over PyTorch (log scale; right of 1x: dmc faster) — {meta["date"]}</text>']
lx = left
for n, c in zip(names, colors):
    svg.append(f'<rect x="{lx}" y="26" width="10" height="10" fill="{c}"/><text x="{lx + 14}" y="35">{n}</text>')
    lx += 14 + 6 * len(n) + 16
for e in range(lo2, hi2 + 1):
    x = xpos(2.0 ** e)
    svg.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{H - 30}" stroke="{"#000" if e == 0 else "#ddd"}"/>'
               f'<text x="{x:.1f}" y="{H - 16}" text-anchor="middle">{2.0 ** e:g}x</text>')
for k, (bid, *v) in enumerate(chart):
    y = top + k * (3 * bar + gap)
    svg.append(f'<text x="{left - 6}" y="{y + 1.5 * bar + 4}" text-anchor="end">{bid}</text>')
    for j, x in enumerate(v):
        if not x:
            continue
        x0, x1 = sorted((xpos(1.0), xpos(x)))
        svg.append(f'<rect x="{x0:.1f}" y="{y + j * bar}" width="{max(x1 - x0, 0.5):.1f}" height="{bar - 1}" '
                   f'fill="{colors[j]}"><title>{bid}: {names[j]} {x:.2f}x</title></rect>')
svg.append("</svg>")
with open(f"{OUT}/speed.svg", "w") as f:
    f.write("\n".join(svg) + "\n")
print("\n".join(md))
