"""Shared code of the PyTorch peers: the dmc runtime's feature processing, layer
helpers with dmc's initialisation, dmc's optimizers, the training loop and metrics.

Feature processing (as runtime/features.h, encode.c, vocab.c, normalize.c do it):
  * Every statistic is computed on the training file only, then frozen.
  * id / id[N] (vocab V, min_count K): index 0 = padding (an empty field), 1 = out
    of vocabulary, 2..V-1 = the ids seen in training at least K times, most frequent
    first, ties by smaller id (at most V-2 of them). Ids are integers ("12" or "12.0").
    Features looked up in one table share ONE vocabulary counted over all their
    columns (here: the same `share=` name); its size is the smallest vocab among them.
  * hash / hash[N] (buckets N): bucket 0 = empty, else 1 + h(text) % (N-1). dmc uses
    XXH3-64; the peer uses 64-bit BLAKE2b (any fixed hash: only the collisions differ).
  * cross(F1, F2, ...) (buckets N): the raw fields of the sources hashed together,
    bucket 0 if any of them is empty, else 1 + h % (N-1).
  * float / float[N]: an empty field takes `default` (else the row is an error);
    `log` is sign(x) * log1p(|x|); `normalize` is (x - mean) / std with the training
    mean and population std per column (only x - mean if std < 1e-6).
  * Lists: N columns (an empty field is padding) or one column split at `sep`,
    padded with index 0 up to N; padding is masked in sums and means (a mean with
    no real step is 0). Fields and list items are trimmed of spaces.
  * The label is read as a float.

Training (runtime/train.c, optim.c): each epoch visits the rows in a fresh seeded
permutation, in batches of `batch` (the last one smaller); the loss is the batch mean
of BCE; dense weights use `optimizer` with L2 `l2` added to the gradient (torch's
weight_decay); tables (nn.Embedding(sparse=True)) use `sparse` (or their own) with
lazy row updates: a batch's gradients of one row are summed, rows whose summed
gradient is all zero are skipped, and l2 * w is added to the touched rows. adam ->
torch.optim.SparseAdam (bias correction by the table's step count, dmc uses the row's
own); adagrad -> torch.optim.Adagrad (sparse gradients; initial accumulator 0.1 and
eps 1e-10 as in dmc); ftrl -> SparseFTRL below (McMahan et al. 2013, as optim.h).
Initialisation: tables normal(0, 0.01) unless told; dense weights Glorot uniform,
biases zero. Metrics on the test file after each epoch: AUC (rank sum, tied scores
get their mean rank) and logloss (p clipped to [1e-7, 1 - 1e-7]).
"""
import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, OOV = 0, 1


# ---- feature declarations ----

class Feature:
    def __init__(self, name, kind, cols, size=0, width=None, share=None, sep=None, min_count=1,
                 log=False, normalize=False, default=None):
        self.name, self.kind, self.cols, self.size = name, kind, list(cols), size
        self.is_list = width is not None          # id[N] / hash[N]: [n, N] and a mask
        self.width = width or (1 if sep else len(self.cols))
        self.share, self.sep, self.min_count = share or name, sep, min_count
        self.log, self.normalize, self.default = log, normalize, default


def cols(prefix, a, b):
    """userRatedMovie1..userRatedMovie5 -> cols("userRatedMovie", 1, 5)"""
    return [f"{prefix}{i}" for i in range(a, b + 1)]


def id_(name, cols, vocab, width=None, share=None, sep=None, min_count=1):
    return Feature(name, "id", cols, vocab, width, share, sep, min_count)


def hash_(name, cols, buckets, width=None, sep=None):
    return Feature(name, "hash", cols, buckets, width, sep=sep)


def float_(name, cols, log=False, normalize=False, default=None):
    return Feature(name, "float", cols, log=log, normalize=normalize, default=default)


def cross(name, cols, buckets):
    return Feature(name, "cross", cols, buckets)


# ---- reading and encoding ----

def read_rows(path, delimiter):
    with open(path, newline="") as f:
        r = csv.reader(f, delimiter=delimiter,
                       quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        header = next(r)
        return {c: i for i, c in enumerate(header)}, [row for row in r if row]


def bucket(text, n):
    if not text:
        return 0
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return 1 + h % (n - 1)


def parse_id(s):
    try:
        return int(s)
    except ValueError:
        x = float(s)
        if x != math.floor(x):
            raise ValueError(f"'{s}' is not an integer id")
        return int(x)


def items(f, row, at):
    """The feature's trimmed fields of one row: width items, '' = empty."""
    if f.sep:
        field = row[at[f.cols[0]]].strip()
        v = [s.strip() for s in field.split(f.sep)] if field else []
        if len(v) > f.width:
            raise ValueError(f"column {f.cols[0]}: list of {len(v)} items, more than {f.width}")
        return v + [""] * (f.width - len(v))
    return [row[at[c]].strip() for c in f.cols]


def float_values(f, row, at):
    out = []
    for s in items(f, row, at):
        if not s:
            if f.default is None:
                raise ValueError(f"feature {f.name}: empty value and no default")
            x = float(f.default)
        else:
            x = float(s)
        out.append(math.copysign(math.log1p(abs(x)), x) if f.log else x)
    return out


class Encoder:
    """Vocabularies and float statistics fitted on the training rows."""

    def __init__(self, features, label):
        self.features, self.label = features, label
        self.vocab, self.stats = {}, {}

    def fit(self, at, rows):
        counts, sizes, minc = {}, {}, {}
        for f in self.features:
            if f.kind == "id":
                c = counts.setdefault(f.share, {})
                sizes[f.share] = min(sizes.get(f.share, f.size), f.size)
                minc[f.share] = max(minc.get(f.share, 1), f.min_count)
                for row in rows:
                    for s in items(f, row, at):
                        if s:
                            i = parse_id(s)
                            c[i] = c.get(i, 0) + 1
            elif f.kind == "float" and f.normalize:
                x = np.array([float_values(f, row, at) for row in rows], dtype=np.float64)
                sd = x.std(axis=0)
                self.stats[f.name] = (x.mean(axis=0), np.where(sd < 1e-6, 1.0, sd))
        for g, c in counts.items():
            kept = sorted((i for i, n in c.items() if n >= minc[g]), key=lambda i: (-c[i], i))
            self.vocab[g] = {i: k + 2 for k, i in enumerate(kept[:sizes[g] - 2])}
        return self

    def encode(self, at, rows):
        """{feature: tensor} (ids int64 [n] or [n, N], floats float32 [n, N]) and labels."""
        out = {}
        for f in self.features:
            if f.kind == "id":
                v = self.vocab[f.share]
                x = [[v.get(parse_id(s), OOV) if s else PAD for s in items(f, row, at)] for row in rows]
            elif f.kind == "hash":
                x = [[bucket(s, f.size) for s in items(f, row, at)] for row in rows]
            elif f.kind == "cross":
                x = [[0 if any(not s for s in fs) else bucket("\x1f".join(fs), f.size)]
                     for fs in ([row[at[c]].strip() for c in f.cols] for row in rows)]
            else:
                x = np.array([float_values(f, row, at) for row in rows], dtype=np.float64)
                if f.normalize:
                    mean, sd = self.stats[f.name]
                    x = (x - mean) / sd
                out[f.name] = torch.tensor(x, dtype=torch.float32)
                continue
            t = torch.tensor(x, dtype=torch.int64)
            out[f.name] = t if f.is_list else t[:, 0]
        y = torch.tensor([float(row[at[self.label]]) for row in rows], dtype=torch.float32)
        return out, y


# ---- layers, with dmc's initialisation ----

def table(rows, dim, std=0.01, zeros=False, optimizer=None):
    """A table: nn.Embedding(sparse=True); `optimizer` overrides the model's sparse one."""
    e = nn.Embedding(rows, dim, sparse=True)
    nn.init.zeros_(e.weight) if zeros else nn.init.normal_(e.weight, 0.0, std)
    e.dmc_optimizer = optimizer
    return e


def dense(k, n, bias=True, zeros=False):
    """dmc's dense: Glorot-uniform weights (zeros with init=zeros(), as stdlib logit does), zero bias."""
    lin = nn.Linear(k, n, bias=bias)
    nn.init.zeros_(lin.weight) if zeros else nn.init.xavier_uniform_(lin.weight)
    if bias:
        nn.init.zeros_(lin.bias)
    return lin


class MLP(nn.Module):
    """stdlib mlp: act after every hidden layer (then dropout), last_act after the last."""

    def __init__(self, k, hidden, act=F.relu, last_act=None, drop=0.0):
        super().__init__()
        self.layers = nn.ModuleList(dense(a, b) for a, b in zip([k] + hidden[:-1], hidden))
        self.act, self.last_act, self.drop = act, last_act, drop

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.dropout(self.act(x), self.drop, self.training) if self.drop else self.act(x)
            elif self.last_act is not None:
                x = self.last_act(x)
        return x


def mask(ids):
    return (ids != PAD).unsqueeze(-1).to(torch.float32)


def masked_sum(e, ids):
    """sum(embed(F, t), axis=0) over a list feature: padded steps ignored."""
    return (e * mask(ids)).sum(1)


def masked_mean(e, ids):
    """mean(embed(F, t), axis=0): padded steps ignored; 0 with no real step."""
    m = mask(ids)
    return (e * m).sum(1) / m.sum(1).clamp(min=1.0)


def first_order(table_, ids):
    """sum(embed(F, 1)) -> [B]: one weight per id, a list's padding ignored."""
    w = table_(ids)
    return masked_sum(w, ids)[:, 0] if ids.dim() == 2 else w[:, 0]


def fm(e):
    """stdlib fm: e [B, f, k] -> [B], sum over pairs i < j of <v_i, v_j>."""
    s = e.sum(1)
    return 0.5 * (s * s - (e * e).sum(1)).sum(1)


# ---- optimizers ----

class SparseFTRL(torch.optim.Optimizer):
    """FTRL-Proximal on sparse row gradients (dmc optim.h; lr is alpha):
    s = (sqrt(n + g^2) - sqrt(n)) / alpha; z += g - s*w; n += g^2;
    w = 0 if |z| <= l1 else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)"""

    def __init__(self, params, alpha=0.05, beta=1.0, l1=0.0, l2=0.0):
        super().__init__(params, dict(alpha=alpha, beta=beta, l1=l1, l2=l2))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            a, beta, l1, l2 = g["alpha"], g["beta"], g["l1"], g["l2"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["z"], st["n"] = torch.zeros_like(p), torch.zeros_like(p)
                grad = p.grad.coalesce()
                i, gv = grad.indices()[0], grad.values()
                n0 = st["n"][i]
                n1 = n0 + gv * gv
                z = st["z"][i] + gv - (n1.sqrt() - n0.sqrt()) / a * p[i]
                st["z"][i], st["n"][i] = z, n1
                w = -(z - z.sign() * l1) / ((beta + n1.sqrt()) / a + l2)
                p[i] = torch.where(z.abs() <= l1, torch.zeros_like(w), w)


def make_optimizer(spec, params, sparse, l2):
    name, kw = spec
    if name == "adam":
        return torch.optim.SparseAdam(params, lr=kw["lr"]) if sparse else \
            torch.optim.Adam(params, lr=kw["lr"], weight_decay=l2)
    if name == "adagrad":   # l2 of tables is added in sparse_grads (no weight_decay on sparse)
        return torch.optim.Adagrad(params, lr=kw["lr"], initial_accumulator_value=0.1, eps=1e-10,
                                   weight_decay=0.0 if sparse else l2)
    if name == "ftrl":
        assert sparse, "ftrl is for tables"
        return SparseFTRL(params, **kw)
    raise ValueError(f"unknown optimizer {name}")


def describe(spec):
    name, kw = spec
    return f"{name}(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")"


@torch.no_grad()
def sparse_grads(tables, l2):
    """dmc's lazy row update: drop rows whose summed gradient is zero, add l2 * w."""
    for e in tables:
        g = e.weight.grad
        if g is None:
            continue
        g = g.coalesce()
        i, v = g.indices(), g.values()
        keep = v.ne(0).any(1)
        if not bool(keep.any()):   # nothing to update (e.g. a ReLU tower dead for this batch)
            e.weight.grad = None
            continue
        if not bool(keep.all()):
            i, v = i[:, keep], v[keep]
        if l2:
            v = v + l2 * e.weight[i[0]]
        e.weight.grad = torch.sparse_coo_tensor(i, v, g.shape)._coalesced_(True)


def build_optimizers(model, cfg):
    """Tables grouped by optimizer spec, then the dense optimizer. Also returns
    {table name: "spec -> torch class"} for the report."""
    tables = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
    in_table = {id(m.weight) for _, m in tables}
    dense_params = [p for p in model.parameters() if id(p) not in in_table]
    groups = {}
    for n, m in tables:
        spec = m.dmc_optimizer or cfg["sparse"]
        g = groups.setdefault(describe(spec), (spec, [], []))
        g[1].append(m.weight)
        g[2].append(n)
    opts, used = [], {}
    for key, (spec, ps, names) in groups.items():
        opts.append(make_optimizer(spec, ps, True, cfg["l2"]))
        used.update({n: f"{key} -> {type(opts[-1]).__name__}" for n in names})
    if dense_params:
        opts.append(make_optimizer(cfg["optimizer"], dense_params, False, cfg["l2"]))
    return [m for _, m in tables], opts, used


# ---- metrics ----

def auc(scores, labels):
    """Exact ROC AUC by the rank sum; tied scores share their mean rank."""
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inv]
    pos = labels > 0.5
    npos, nneg = int(pos.sum()), int((~pos).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[pos].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def logloss(p, y):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ---- the program ----

def blas_loaded():
    try:
        with open("/proc/self/maps") as f:
            return sorted({l.split()[-1] for l in f if "blas" in l and ".so" in l})
    except OSError:
        return []


def batches(x, idx):
    return {k: v[idx] for k, v in x.items()}


def predict(model, x, n, batch=4096):
    model.eval()
    with torch.inference_mode():
        out = [torch.sigmoid(model(batches(x, torch.arange(s, min(s + batch, n)))))
               for s in range(0, n, batch)]
    model.train()
    return torch.cat(out).numpy()


def main(name, features, label, cfg, make_model, delimiter=","):
    """cfg: optimizer, sparse (specs ("adam", {"lr": ..})), batch, epochs, l2.
    make_model() -> nn.Module whose forward(batch dict) returns logits [B]."""
    ap = argparse.ArgumentParser(description=f"PyTorch peer of examples/{name}.model")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=cfg["epochs"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("DMC_TORCH_THREADS", "1")))
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    a = ap.parse_args()
    log = sys.stderr if a.json else sys.stdout
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    t0 = time.perf_counter()
    at, rows = read_rows(a.train, delimiter)
    enc = Encoder(features, label).fit(at, rows)
    xtr, ytr = enc.encode(at, rows)
    at, rows = read_rows(a.test, delimiter)
    xte, yte = enc.encode(at, rows)
    ntr, nte, B = len(ytr), len(yte), cfg["batch"]
    yte_np = yte.numpy()
    print(f"{name}: {ntr} train rows, {nte} test rows, loaded in {time.perf_counter() - t0:.1f}s; "
          + ", ".join(f"vocab {g} {len(v)} ids" for g, v in enc.vocab.items()), file=log)

    model = make_model()
    tables, opts, table_opts = build_optimizers(model, cfg)
    epochs = []
    for ep in range(1, a.epochs + 1):
        perm = torch.from_numpy(rng.permutation(ntr))
        total, t0 = 0.0, time.perf_counter()
        for s in range(0, ntr, B):
            idx = perm[s:s + B]
            loss = F.binary_cross_entropy_with_logits(model(batches(xtr, idx)), ytr[idx])
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            sparse_grads(tables, cfg["l2"])
            for o in opts:
                o.step()
            total += loss.item() * len(idx)
        secs = time.perf_counter() - t0
        p = predict(model, xte, nte)
        r = dict(epoch=ep, train_loss=total / ntr, test_auc=auc(p, yte_np),
                 test_logloss=logloss(p, yte_np), seconds=secs)
        epochs.append(r)
        print(f"epoch {ep}/{a.epochs}  loss {r['train_loss']:.4f}  test auc {r['test_auc']:.4f} "
              f"logloss {r['test_logloss']:.4f}  {ntr / secs / 1e3:.1f}k rows/s  {secs:.2f}s", file=log)

    best = max(epochs, key=lambda r: r["test_auc"])
    spe = sum(r["seconds"] for r in epochs) / len(epochs)
    summary = dict(
        model=name, peer="pytorch", train=a.train, test=a.test, rows=ntr, test_rows=nte,
        batch=B, epochs=a.epochs, seed=a.seed, threads=a.threads,
        optimizer=describe(cfg["optimizer"]), sparse=describe(cfg["sparse"]), l2=cfg["l2"],
        table_optimizers=table_opts,
        torch=torch.__version__, blas=blas_loaded(),
        env={k: os.environ.get(k) for k in ("LD_PRELOAD", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS")},
        best_epoch=best["epoch"], best_auc=best["test_auc"], best_logloss=best["test_logloss"],
        seconds_per_epoch=spe, per_epoch=epochs)
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"best epoch {best['epoch']}: test auc {best['test_auc']:.4f} logloss "
              f"{best['test_logloss']:.4f}; {spe:.2f} s/epoch ({a.threads} thread(s))")
