"""PyTorch's side of the speed benchmark (bench/speed.sh): the figures `PROG bench` gives for
dmc, measured the same way for the same model in PyTorch.

  bench/torch_env.sh --threads T /usr/bin/python3 bench/torch/bench.py MODEL \
      [--threads T] [--time S] [--zipf S] [--batch 256] [--no-latency] [--json]

MODEL is a configuration of bench/torch/models.py (criteo_deepfm, din, ...) or
example:NAME, the peer bench/peers/NAME.py of examples/NAME.model (its own features,
optimizers, l2 and training step, common.py's; AutoRec's model, loss and optimizers, its
peer reading its own data).

Measured, as runtime/bench.c does (inputs drawn before the clocks start: 4 batches of
1024 rows for inference, 8 of the training batch for training, used in turn; ids Zipf(S)
over each vocabulary, rank r as id 2 + r, lists between half and all full with the
padding at the end, floats uniform in [0, 1)):
  - latency at batch 1 (p50, p99): each call on the next row, timed alone, for at least
    S seconds and 1000 S calls;
  - inference rows/s at batch 1024 for S seconds;
  both in eager mode (model.eval(), torch.inference_mode()) and TorchScript
  (torch.jit.trace of the scoring function, one trace per batch size, torch.jit.freeze,
  torch.jit.optimize_for_inference), the output being the probability, as dmc's;
  - training rows/s at the training batch for 1.5 S seconds after one warm-up step:
    forward, BCE, backward, optimizer steps; tables are nn.Embedding(sparse=True) with
    torch.optim.SparseAdam, dense weights torch.optim.Adam (lr 0.001, as the .model
    files), set_to_none gradients. Examples: the peer's optimizers and its sparse
    gradient handling (common.sparse_grads: the row filtering and l2 dmc also does).
Threads: torch.set_num_threads(T) for everything (intra-op threads); torch_env.sh sets
OMP_NUM_THREADS and OpenBLAS's the same.
"""
import argparse
import json
import os
import runpy
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
import models  # noqa: E402
from common import blas_loaded  # noqa: E402

INFER_BATCH, INFER_RING, TRAIN_RING = 1024, 4, 8


class Ids:
    """Zipf(s) ranks over k ids as ids 2 + rank (s = 0: uniform), as runtime/zipf.c."""

    def __init__(self, rng, s):
        self.rng, self.s, self.cdf = rng, s, {}

    def draw(self, k, shape):
        if self.s <= 0:
            return torch.from_numpy(2 + self.rng.integers(0, k, size=shape))
        if k not in self.cdf:
            c = np.cumsum(np.arange(1, k + 1, dtype=np.float64) ** -self.s)
            self.cdf[k] = c / c[-1]
        r = np.searchsorted(self.cdf[k], self.rng.random(size=shape))
        return torch.from_numpy(np.minimum(r, k - 1).astype(np.int64) + 2)

    def lists(self, k, B, L, lengths=None):
        """[B, L] ids with each row's items first and padding after; the lengths drawn as
        bench.c does (between half and all of L) unless given."""
        n = lengths if lengths is not None else L - L // 2 + self.rng.integers(0, L // 2 + 1, size=B)
        ids = self.draw(k, (B, L))
        ids[torch.from_numpy(np.arange(L)[None, :] >= n[:, None])] = 0
        return ids, n


# ---- the configurations: inputs, the scoring function, the training loss ----

class Config:
    """names of the inputs, make(B) -> (tuple of tensors, labels), model, score(*x) -> p,
    loss(x, y), tables and optimizers."""

    def optimizers(self):
        tables = [m for m in self.model.modules() if isinstance(m, nn.Embedding)]
        in_table = {id(m.weight) for m in tables}
        dense_params = [p for p in self.model.parameters() if id(p) not in in_table]
        opts = [torch.optim.SparseAdam([m.weight for m in tables], lr=0.001)]
        if dense_params:
            opts.append(torch.optim.Adam(dense_params, lr=0.001))
        return opts, "SparseAdam(tables) + Adam(dense), lr 0.001"

    def after_backward(self):
        pass

    def scored(self, x):
        """The inputs the scoring function takes (DIEN's samples are for training only)."""
        return x


class Criteo(Config):
    def __init__(self, name, ids):
        self.model, self.ids, self.prob = models.MODELS[name](), ids, name in models.PROB

    def make(self, B):
        x = (self.ids.draw(models.IDS - 2, (B, models.FIELDS)),
             torch.from_numpy(self.ids.rng.random((B, models.NUM), dtype=np.float32)))
        return x, torch.from_numpy((self.ids.rng.random(B) < 0.5).astype(np.float32))

    def score(self, model):
        prob = self.prob

        class Score(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, ids, num):
                out = self.m(ids, num)
                return out if prob else torch.sigmoid(out)
        return Score()

    def loss(self, x, y):
        out = self.model(*x)
        if self.prob:
            return F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), y)
        return F.binary_cross_entropy_with_logits(out, y)


class Sequence(Config):
    """DIN and DIEN: (user, item, cat, hist, hcat) and, for DIEN's training, the sampled
    behaviours (nhist, nhcat) on the real steps."""

    def __init__(self, name, ids):
        self.model, self.ids, self.name = models.MODELS[name](), ids, name

    def make(self, B):
        d, L = self.ids, models.HIST
        hist, n = d.lists(models.ITEMS - 2, B, L)
        hcat, _ = d.lists(models.CATS - 2, B, L, n)
        x = [d.draw(models.USERS - 2, (B,)), d.draw(models.ITEMS - 2, (B,)), d.draw(models.CATS - 2, (B,)),
             hist, hcat]
        if self.name == "dien":
            x += [d.lists(models.ITEMS - 2, B, L, n)[0], d.lists(models.CATS - 2, B, L, n)[0]]
        return tuple(x), torch.from_numpy((d.rng.random(B) < 0.5).astype(np.float32))

    def scored(self, x):
        return x[:5]

    def score(self, model):
        class Score(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, user, item, cat, hist, hcat):
                return torch.sigmoid(self.m(user, item, cat, hist, hcat))
        return Score()

    def loss(self, x, y):
        if self.name == "dien":
            return self.model.train_loss(y, *x)
        return F.binary_cross_entropy_with_logits(self.model(*x), y)


class Example(Config):
    """A peer of bench/peers/: its main(...) call is intercepted to get the features, the
    configuration and the model; inputs are drawn per feature kind in its shapes."""

    def __init__(self, name, ids):
        import common
        got = {}

        def capture(name_, features, label, cfg, make_model, delimiter=",", next_by=None, next_features=()):
            got.update(features=features, cfg=cfg, make_model=make_model, next_features=next_features)
        main = common.main
        common.main = capture
        try:
            runpy.run_path(os.path.join(HERE, "..", "peers", f"{name}.py"), run_name="__main__")
        finally:
            common.main = main
        if "make_model" not in got:
            raise SystemExit(f"bench.py: bench/peers/{name}.py did not call main()")
        self.common, self.ids, self.cfg = common, ids, got["cfg"]
        self.features = [f for f in got["features"]]
        self.next_features = list(got["next_features"])

        class Enc:   # vocabularies as if every id had been seen: vocab_len = vocab
            vocab = {f.share: range(f.size - 2) for f in self.features if f.kind == "id"}

        class Stub:
            enc = Enc()
            extra = {}

            def fit(self, name_, model, *a, **k):   # FNN's pre-training: timed from FM's initial weights
                return [dict(epoch=0, test_auc=float("nan"))], None, model.state_dict()
        mk = got["make_model"]
        import inspect
        self.model = mk(Stub()) if inspect.signature(mk).parameters else mk()
        self.names = [f.name for f in self.features if f.kind != "label"]
        self.names += ["next." + n for n in self.next_features]

    def one(self, f, B):
        d = self.ids
        if f.kind == "float":
            return torch.from_numpy(d.rng.random((B, len(f.cols)), dtype=np.float32))
        lo = 2 if f.kind == "id" else 1
        k = f.size - lo
        if f.is_list:
            ids, _ = d.lists(k, B, f.width)
            return ids + (ids != 0) * (lo - 2)
        return d.draw(k, (B,)) + (lo - 2)

    def make(self, B):
        by = {f.name: f for f in self.features}
        x = tuple(self.one(by[n.split("next.")[-1]], B) for n in self.names)
        return x, torch.from_numpy((self.ids.rng.random(B) < 0.5).astype(np.float32))

    def score(self, model):
        names, common = self.names, self.common

        class Score(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, *x):
                return common.scores(self.m, dict(zip(names, x)))
        return Score()

    def loss(self, x, y):
        return self.common.batch_loss(self.model, dict(zip(self.names, x)), y)

    def optimizers(self):
        self.tables, opts, used = self.common.build_optimizers(self.model, self.cfg)
        return opts, "the peer's: " + ", ".join(sorted(set(used.values()))) + \
            f"; dense {self.common.describe(self.cfg['optimizer'])}"

    def after_backward(self):
        self.common.sparse_grads(self.tables, self.cfg["l2"])


class AutoRec(Config):
    """bench/peers/autorec.py, whose data (one movie's ratings per example) common.main does
    not read: its IAutoRec, loss and optimizers; the ratings drawn as bench.c draws a
    weighted list (users Zipf over the vocabulary, ratings uniform in [0, 1))."""

    def __init__(self, ids):
        peer = runpy.run_path(os.path.join(HERE, "..", "peers", "autorec.py"), run_name="autorec_peer")
        self.peer, self.ids, self.model = peer, ids, peer["IAutoRec"]()
        self.common = sys.modules["common"]

    def make(self, B):
        users, _ = self.ids.lists(self.peer["USERS"] - 2, B, self.peer["SLOTS"])
        vals = torch.from_numpy(self.ids.rng.random(users.shape, dtype=np.float32)) * (users != 0)
        return (users, vals), torch.zeros(B)

    def score(self, model):
        return model

    def loss(self, x, y):
        return self.peer["masked_sse"](self.model(*x), *x).mean()

    def optimizers(self):
        self.tables, opts, used = self.common.build_optimizers(self.model, self.peer["CFG"])
        return opts, "the peer's: " + ", ".join(sorted(set(used.values()))) + \
            f"; dense {self.common.describe(self.peer['CFG']['optimizer'])}"

    def after_backward(self):
        self.common.sparse_grads(self.tables, self.peer["CFG"]["l2"])


# ---- timing ----

def latency(fn, rows, secs):
    for i in range(min(200, max(10, int(1000 * secs)))):
        fn(*rows[i % len(rows)])
    lat, t0 = [], time.perf_counter()
    while len(lat) < 200000 and (len(lat) < max(10, int(1000 * secs)) or time.perf_counter() - t0 < secs):
        x = rows[len(lat) % len(rows)]
        s = time.perf_counter()
        fn(*x)
        lat.append(time.perf_counter() - s)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, len(lat)


def throughput(fn, ring, secs):
    fn(*ring[0])
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < secs:
        fn(*ring[n % len(ring)])
        n += 1
    return n * INFER_BATCH / (time.perf_counter() - t0)


def script(score, example):
    """TorchScript for one batch size: trace, freeze, optimize_for_inference."""
    with torch.no_grad():
        tr = torch.jit.trace(score.eval(), example, check_trace=False)
        fr = torch.jit.freeze(tr)
        try:
            return torch.jit.optimize_for_inference(fr), "trace + freeze + optimize_for_inference"
        except Exception as e:   # some graphs do not take the pass; the frozen one still runs
            return fr, f"trace + freeze (optimize_for_inference failed: {type(e).__name__})"


def main():
    ap = argparse.ArgumentParser(description="PyTorch side of bench/speed.sh")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("DMC_TORCH_THREADS", "1")))
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("--zipf", type=float, default=1.1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-latency", action="store_true", help="skip the batch-1 latency")
    ap.add_argument("--no-script", action="store_true", help="skip TorchScript")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids = Ids(np.random.default_rng(a.seed), a.zipf)
    if a.model == "example:autorec":
        cfg = AutoRec(ids)
    elif a.model.startswith("example:"):
        cfg = Example(a.model.split(":", 1)[1], ids)
    elif a.model in ("din", "dien"):
        cfg = Sequence(a.model, ids)
    elif a.model in models.MODELS:
        cfg = Criteo(a.model, ids)
    else:
        raise SystemExit(f"bench.py: unknown model {a.model} (one of {', '.join(models.MODELS)}, or example:NAME)")
    model = cfg.model
    out = dict(model=a.model, threads=a.threads, zipf=a.zipf, torch=torch.__version__,
               blas=blas_loaded(), env={k: os.environ.get(k) for k in ("LD_PRELOAD", "OPENBLAS_CORETYPE",
                                                                      "OMP_NUM_THREADS")})
    iring = [cfg.scored(cfg.make(INFER_BATCH)[0]) for _ in range(INFER_RING)]
    tring = [cfg.make(a.batch) for _ in range(TRAIN_RING)]
    rows = [tuple(t[i:i + 1] for t in iring[0]) for i in range(INFER_BATCH)]

    model.eval()
    score = cfg.score(model)
    with torch.inference_mode():
        if not a.no_latency:
            out["eager_latency_p50_us"], out["eager_latency_p99_us"], out["eager_latency_calls"] = \
                latency(score, rows, a.time)
        out["eager_infer_rows_per_s"] = throughput(score, iring, a.time)
    if not a.no_script:
        try:
            with torch.no_grad():
                if not a.no_latency:
                    s1, how = script(cfg.score(model), rows[0])
                    out["script_latency_p50_us"], out["script_latency_p99_us"], out["script_latency_calls"] = \
                        latency(s1, rows, a.time)
                sb, how = script(cfg.score(model), iring[0])
                out["script_infer_rows_per_s"] = throughput(sb, iring, a.time)
            out["script"] = how
        except Exception as e:   # reported, not hidden: the table shows n/a and this reason
            out["script_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"

    model.train()
    opts, out["train_optimizers"] = cfg.optimizers()

    def step(x, y):
        for o in opts:
            o.zero_grad(set_to_none=True)
        cfg.loss(x, y).backward()
        cfg.after_backward()
        for o in opts:
            o.step()
    step(*tring[0])
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < 1.5 * a.time:
        step(*tring[n % TRAIN_RING])
        n += 1
    out["train_rows_per_s"] = n * a.batch / (time.perf_counter() - t0)
    out["train_batch"], out["train_steps"] = a.batch, n
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
