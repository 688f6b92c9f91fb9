"""Shared code of the PyTorch peers: the dmc runtime's feature processing, layer
helpers with dmc's initialisation, dmc's optimizers, the training loop and metrics.

Feature processing (as runtime/features.h, encode.c, vocab.c, normalize.c do it):
  * Every statistic is computed on the training file only, then frozen.
  * id / id[N] (vocab V, min_count K): index 0 = padding (an empty field), 1 = out
    of vocabulary, 2..V-1 = the ids seen in training at least K times, most frequent
    first, ties by smaller id (at most V-2 of them). Ids are integers ("12" or "12.0").
    Features looked up in one table share ONE vocabulary counted over all their
    columns (here: the same `share=` name); its size is the smallest vocab among them.
  * hash / hash[N] (buckets N): bucket 0 = empty, else 1 + h(text) % (N-1) with dmc's
    h, XXH3-64 seeded with RT_HASH_SEED (needs the xxhash module, Debian's
    python3-xxhash: then every string lands in dmc's bucket, collisions included;
    without it, 64-bit BLAKE2b: the same scheme, other collisions). The JSON says which.
  * cross(F1, F2, ...) (buckets N): the raw fields of the sources hashed in a chain
    (each hash seeds the next), bucket 0 if any of them is empty, else 1 + h % (N-1).
  * float / float[N]: an empty field takes `default` (else the row is an error);
    `log` is sign(x) * log1p(|x|); `normalize` is (x - mean) / std with the training
    mean and population std per column (only x - mean if std < 1e-6).
  * Lists: N columns (an empty field is padding) or one column split at `sep`,
    padded with index 0 up to N; padding is masked in sums and means (a mean with
    no real step is 0). Fields and list items are trimmed of spaces.
  * The label is read as a float.
  * next(F) (data ... next_by COL order COL): F of the same COL's next row in `order`
    order (ties by file position), within the file; the last row gets padding (ids 0,
    floats the encoded empty value). negative(F): for every non-padding entry an id
    drawn uniformly from 2..vocab_len-1 of F's vocabulary (1..N-1 for a hash source),
    fresh for every batch.

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
import inspect
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


# Hashing: dmc's own, XXH3-64 seeded with RT_HASH_SEED (runtime/hash.c, encoder.h), when
# the xxhash module is there (Debian: python3-xxhash), so the peers put every string in
# the same bucket as dmc (same collisions); else 64-bit BLAKE2b (other collisions).
# DMC_PEER_HASH=blake2b forces the fallback.
RT_HASH_SEED = 0x646D632D68617368    # "dmc-hash"
try:
    if os.environ.get("DMC_PEER_HASH", "xxh3") != "xxh3":
        raise ImportError
    import xxhash
    HASH = "xxh3"

    def _h(text, seed=RT_HASH_SEED):
        return xxhash.xxh3_64_intdigest(text.encode(), seed=seed)
except ImportError:
    HASH = "blake2b"

    def _h(text, seed=RT_HASH_SEED):
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8, key=seed.to_bytes(8, "little")).digest(), "little")


def bucket(text, n):
    """hash / hash[N] item: 0 if empty, else 1 + h(text) % (n - 1) (rt_hash_str_bucket)."""
    if not text:
        return 0
    return 1 + _h(text) % (n - 1)


def cross_bucket(texts, n):
    """cross(F1, F2, ..): 0 if a source is empty, else the sources' raw fields hashed in
    a chain, each hash seeding the next (runtime/encode.c parse_cross)."""
    if any(not t for t in texts):
        return 0
    h = RT_HASH_SEED
    for t in texts:
        h = _h(t, h)
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
                x = [[cross_bucket(fs, f.size)] for fs in ([row[at[c]].strip() for c in f.cols] for row in rows)]
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


def next_rows(at, rows, by, order):
    """dmc's next_by pairing (runtime/dataset.c): rows grouped by column `by`, each group
    ordered by the number in column `order`, ties by position in the file; the index of
    each row's next row in its group, -1 for the last one."""
    def key(s):
        try:
            return (0, parse_id(s))
        except ValueError:
            return (1, s)     # dmc hashes a non-integer key: only the grouping matters
    keys = sorted((key(row[at[by]].strip()), float(row[at[order]].strip()), i)
                  for i, row in enumerate(rows))
    nxt = np.full(len(rows), -1, dtype=np.int64)
    for j in range(len(keys) - 1):
        if keys[j + 1][0] == keys[j][0]:
            nxt[keys[j][2]] = keys[j + 1][2]
    return nxt


def add_next(enc, x, nxt, names):
    """x["next.F"] = F of the next row; the last row of a group gets padding: ids 0, floats
    the encoded value of an empty field (the default through log and normalize, else 0)."""
    has = torch.from_numpy(nxt >= 0)
    at = torch.from_numpy(np.where(nxt >= 0, nxt, 0))
    for f in enc.features:
        if f.name not in names:
            continue
        v = x[f.name][at]
        if f.kind == "float":
            pad = torch.zeros(v.shape[1:])
            if f.default is not None:
                d = float(f.default)
                d = math.copysign(math.log1p(abs(d)), d) if f.log else d
                d = np.full(v.shape[1:], d)
                if f.normalize:
                    mean, sd = enc.stats[f.name]
                    d = (d - mean) / sd
                pad = torch.tensor(d, dtype=torch.float32)
        else:
            pad = torch.zeros(v.shape[1:], dtype=v.dtype)
        mask_ = has.view(-1, *([1] * (v.dim() - 1)))
        x["next." + f.name] = torch.where(mask_, v, pad)


def vocab_len(enc, share):
    """Rows of a vocabulary in use: padding, out of vocabulary and the kept ids (rt_vocab_len)."""
    return len(enc.vocab[share]) + 2


def negatives(ids, lo, hi):
    """dmc's negative(F): for every non-padding entry of ids, an id drawn uniformly from
    lo..hi-1 (for an id source: 2..vocab_len-1), fresh for every batch; 0 on padding."""
    s = torch.randint(lo, hi, ids.shape) if hi > lo else torch.full_like(ids, OOV)
    return torch.where(ids != PAD, s, torch.zeros_like(ids))


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
    """stdlib mlp: act after every hidden layer (then dropout), last_act after the last.
    An activation given as a class (Dice) is instantiated per layer with the shape of the
    layer's output without the batch: lead + (width,)."""

    def __init__(self, k, hidden, act=F.relu, last_act=None, drop=0.0, lead=()):
        super().__init__()
        self.layers = nn.ModuleList(dense(a, b) for a, b in zip([k] + hidden[:-1], hidden))
        make = lambda a, w: a(tuple(lead) + (w,)) if isinstance(a, type) else a   # noqa: E731
        self.acts = [make(act, w) for w in hidden[:-1]] + [make(last_act, hidden[-1])]
        self.act_modules = nn.ModuleList(a for a in self.acts if isinstance(a, nn.Module))
        self.drop = drop

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.dropout(self.acts[i](x), self.drop, self.training) if self.drop else self.acts[i](x)
            elif self.acts[i] is not None:
                x = self.acts[i](x)
        return x


class Dice(nn.Module):
    """stdlib dice: p = sigmoid(standardize(x)); p * x + (1 - p) * alpha * x, alpha[k]
    (a dense param, zeros). standardize as dmc's kernel (since commit a8eb846): per
    element of x (every non-batch position separately, padded steps included) over the
    batch, biased variance, eps 1e-5; while training the batch's statistics, and the
    running ones move towards them (run = 0.99 run + 0.01 batch; start 0 and 1); when
    scoring the running ones. DMC_DICE_BATCH_STATS=1: the batch's statistics when scoring
    too (dmc before a8eb846)."""

    batch_stats_when_scoring = os.environ.get("DMC_DICE_BATCH_STATS") == "1"

    def __init__(self, shape):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(shape[-1]))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))

    def forward(self, x):
        if self.training or self.batch_stats_when_scoring:
            mean = x.mean(0)
            var = ((x - mean) ** 2).mean(0)
            if self.training:
                with torch.no_grad():
                    self.running_mean.mul_(0.99).add_(0.01 * mean)
                    self.running_var.mul_(0.99).add_(0.01 * var)
        else:
            mean, var = self.running_mean, self.running_var
        p = torch.sigmoid((x - mean) / torch.sqrt(var + 1e-5))
        return p * x + (1 - p) * self.alpha * x


def bce_prob(p, y):
    """dmc's bce of a probability: q = p clamped to [1e-7, 1 - 1e-7], -(y log q + (1-y)
    log(1-q)), batch mean; the gradient passes the clamp as dmc's bce_grad does."""
    q = p + (p.clamp(1e-7, 1 - 1e-7) - p).detach()
    return -(y * torch.log(q) + (1 - y) * torch.log(1 - q)).mean()


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


class SparseRowAdam(torch.optim.Optimizer):
    """dmc's lazy Adam for tables (optim.c): Adam on the touched rows only, the bias
    correction by each row's own update count (SparseAdam uses the table's step count,
    so a rarely seen row takes up to ~3x larger first steps there). Used instead of
    SparseAdam when DMC_PEER_ROW_ADAM=1 (for experiments; the reported peers use
    torch's SparseAdam)."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            lr, (b1, b2), eps = g["lr"], g["betas"], g["eps"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
                    st["count"] = torch.zeros(p.shape[0], dtype=torch.float64)
                grad = p.grad.coalesce()
                i, gv = grad.indices()[0], grad.values()
                st["count"][i] += 1
                t = st["count"][i].unsqueeze(1)
                m = b1 * st["m"][i] + (1 - b1) * gv
                v = b2 * st["v"][i] + (1 - b2) * gv * gv
                st["m"][i], st["v"][i] = m, v
                bc1 = (1 - b1 ** t).float()
                bc2 = (1 - b2 ** t).float()
                p[i] -= (lr / bc1) * m / ((v / bc2).sqrt() + eps)


def make_optimizer(spec, params, sparse, l2):
    name, kw = spec
    if name == "adam":
        if sparse and os.environ.get("DMC_PEER_ROW_ADAM") == "1":
            return SparseRowAdam(params, lr=kw["lr"])
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


def train_step(loss, opts, tables, l2):
    """One optimizer step on a batch's loss, as dmc takes it (lazy table rows, l2)."""
    for o in opts:
        o.zero_grad(set_to_none=True)
    loss.backward()
    sparse_grads(tables, l2)
    for o in opts:
        o.step()


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


def peer_args(name, cfg):
    """The command line every peer takes; sets torch's threads and seed. Returns the
    arguments, the log (stderr with --json) and the numpy generator of the shuffles."""
    ap = argparse.ArgumentParser(description=f"PyTorch peer of examples/{name}.model")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=cfg["epochs"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("DMC_TORCH_THREADS", "1")))
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    return a, sys.stderr if a.json else sys.stdout, np.random.default_rng(a.seed)


def run_summary(name, a, cfg, table_opts, rows, test_rows):
    """The settings and environment part of a peer's --json summary."""
    return dict(
        model=name, peer="pytorch", train=a.train, test=a.test, rows=rows, test_rows=test_rows,
        batch=cfg["batch"], epochs=a.epochs, seed=a.seed, threads=a.threads,
        optimizer=describe(cfg["optimizer"]), sparse=describe(cfg["sparse"]), l2=cfg["l2"],
        table_optimizers=table_opts,
        torch=torch.__version__, blas=blas_loaded(), hash=HASH,
        env={k: os.environ.get(k) for k in ("LD_PRELOAD", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS")})


def batches(x, idx):
    return {k: v[idx] for k, v in x.items()}


def scores(model, x):
    """What the metrics see: model.score(x) if the model defines it, else sigmoid(logits)."""
    return model.score(x) if hasattr(model, "score") else torch.sigmoid(model(x))


def predict(model, x, n, batch=4096):
    """Scores of the test rows in file order, in batches of `batch` (cfg score_batch)."""
    model.eval()
    with torch.inference_mode():
        out = [scores(model, batches(x, torch.arange(s, min(s + batch, n)))) for s in range(0, n, batch)]
    model.train()
    return torch.cat(out).numpy()


def batch_loss(model, b, y):
    """The batch mean of the per-example loss: model.train_loss(b, y) if the model defines it
    (extra loss terms, other targets), else BCE of the logits forward(b) returns."""
    if hasattr(model, "train_loss"):
        return model.train_loss(b, y)
    return F.binary_cross_entropy_with_logits(model(b), y)


def load_data(features, label, delimiter, train, test, next_by=None, next_features=()):
    """Encoder fitted on `train`; (enc, xtr, ytr, xte, yte). With next_by=(by, order), each
    file's rows are paired with the same `by`'s next row in `order` order and the encoded
    `next.F` of every F in next_features is added (dmc's next(F))."""
    at, rows = read_rows(train, delimiter)
    enc = Encoder(features, label).fit(at, rows)
    xtr, ytr = enc.encode(at, rows)
    if next_by:
        add_next(enc, xtr, next_rows(at, rows, *next_by), next_features)
    at, rows = read_rows(test, delimiter)
    xte, yte = enc.encode(at, rows)
    if next_by:
        add_next(enc, xte, next_rows(at, rows, *next_by), next_features)
    return enc, xtr, ytr, xte, yte


class Run:
    """What a make_model(run) may use: the parsed arguments, the encoder, the data, the
    numpy generator of the shuffles, the log, fit() (to pre-train another model, as FNN
    does) and `extra` (merged into the --json summary)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.extra = {}

    def fit(self, name, model, cfg, epochs, keep_best=False):
        return fit(name, model, cfg, self.xtr, self.ytr, self.xte, self.yte, epochs, self.rng,
                   self.log, keep_best)


def metric_of(model):
    """The per-epoch result that picks the best epoch, and +1 if higher is better, -1 if
    lower: test_auc (+1), unless the model names another (`metric`, `metric_sign`)."""
    return getattr(model, "metric", "test_auc"), getattr(model, "metric_sign", 1)


def fit(name, model, cfg, xtr, ytr, xte, yte, epochs, rng, log, keep_best=False):
    """Trains `model` for `epochs` epochs, scoring the test rows after each (test AUC and
    logloss, or model.evaluate(xte, yte) -> {name: value} when the model defines it).
    Returns the per-epoch results, the table -> optimizer report and, with keep_best, a
    copy of the state of the best epoch (by metric_of(model), as dmc keeps its checkpoint)."""
    tables, opts, table_opts = build_optimizers(model, cfg)
    ntr, nte, B = len(ytr), len(yte), cfg["batch"]
    yte_np = yte.numpy()
    out, best_state, best_auc, step = [], None, None, 0
    for ep in range(1, epochs + 1):
        perm = torch.from_numpy(rng.permutation(ntr))
        total, t0 = 0.0, time.perf_counter()
        for s in range(0, ntr, B):
            idx = perm[s:s + B]
            loss = batch_loss(model, batches(xtr, idx), ytr[idx])
            train_step(loss, opts, tables, cfg["l2"])
            step += 1
            if hasattr(model, "after_step"):
                model.after_step(step)
            total += loss.item() * len(idx)
        secs = time.perf_counter() - t0
        r = dict(epoch=ep, train_loss=total / ntr, seconds=secs)
        if hasattr(model, "evaluate"):   # a metric of its own (retrieval's recall@k)
            model.eval()
            with torch.inference_mode():
                m = model.evaluate(xte, yte)
            model.train()
            r.update(m)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in m.items())
        else:
            p = predict(model, xte, nte, cfg.get("score_batch", 4096))
            in01 = bool(((p >= 0) & (p <= 1)).all())   # dmc reports logloss only then
            r.update(test_auc=auc(p, yte_np), test_logloss=logloss(p, yte_np) if in01 else None)
            ll = f"logloss {r['test_logloss']:.4f}" if in01 else "(scores outside [0, 1]: no logloss)"
            shown = f"test auc {r['test_auc']:.4f} {ll}"
        out.append(r)
        key, sign = metric_of(model)
        if keep_best and (best_state is None or sign * r[key] > sign * best_auc):   # dmc: strictly better
            best_auc = r[key]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(f"{name} epoch {ep}/{epochs}  loss {r['train_loss']:.4f}  {shown}  "
              f"{ntr / secs / 1e3:.1f}k rows/s  {secs:.2f}s", file=log)
    return out, table_opts, best_state


def main(name, features, label, cfg, make_model, delimiter=",", next_by=None, next_features=()):
    """cfg: optimizer, sparse (specs ("adam", {"lr": ..})), batch, epochs, l2, and optionally
    score_batch (rows per scoring batch; default 4096). make_model() or make_model(run)
    -> nn.Module whose forward(batch dict) returns logits [B] (or which defines
    train_loss(b, y) and score(b), and optionally after_step(step)). A model measured by
    another metric than AUC defines evaluate(xte, yte) -> {name: value} and names the one
    that picks the best epoch: `metric` (dmc's name, e.g. "recall@50"), `metric_sign` (-1
    when lower is better); the JSON then has `metric` and best_<metric> (and no AUC)."""
    a, log, rng = peer_args(name, cfg)

    t0 = time.perf_counter()
    enc, xtr, ytr, xte, yte = load_data(features, label, delimiter, a.train, a.test, next_by,
                                        next_features)
    ntr, nte = len(ytr), len(yte)
    print(f"{name}: {ntr} train rows, {nte} test rows, loaded in {time.perf_counter() - t0:.1f}s; "
          + ", ".join(f"vocab {g} {len(v)} ids" for g, v in enc.vocab.items()), file=log)

    run = Run(args=a, enc=enc, xtr=xtr, ytr=ytr, xte=xte, yte=yte, rng=rng, log=log)
    model = make_model(run) if inspect.signature(make_model).parameters else make_model()
    epochs, table_opts, _ = fit(name, model, cfg, xtr, ytr, xte, yte, a.epochs, rng, log)

    key, sign = metric_of(model)
    best = max(epochs, key=lambda r: sign * r[key])
    spe = sum(r["seconds"] for r in epochs) / len(epochs)
    summary = dict(
        **run_summary(name, a, cfg, table_opts, ntr, nte), best_epoch=best["epoch"], best_auc=best.get("test_auc"), best_logloss=best.get("test_logloss"),
        seconds_per_epoch=spe, per_epoch=epochs, **run.extra)
    if key != "test_auc":   # as bench/quality.sh reads it: `metric` and best_<metric>
        summary.update({"metric": key, f"best_{key}": best[key]})
    if a.json:
        print(json.dumps(summary))
    elif key != "test_auc":
        print(f"best epoch {best['epoch']}: {key} {best[key]:.4f}; {spe:.2f} s/epoch ({a.threads} thread(s))")
    else:
        ll = f" logloss {best['test_logloss']:.4f}" if best["test_logloss"] is not None else ""
        print(f"best epoch {best['epoch']}: test auc {best['test_auc']:.4f}{ll}; "
              f"{spe:.2f} s/epoch ({a.threads} thread(s))")
