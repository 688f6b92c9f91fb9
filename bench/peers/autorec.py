"""PyTorch peer of examples/autorec.model: I-AutoRec (Sedhain et al., WWW 2015) on sparrow.

Each example is one movie's partially observed rating vector r (one entry per user): the
training rows grouped by movieId (groups in the order their movie first appears, ratings
in file order, at most 256 per movie), users through dmc's vocabulary (counts over the
training file, 12000 indices, 0 padding, 1 out of vocabulary).
    h = sigmoid(V r + mu)        V r: the users' encoder rows [12000, 500] scaled by their
                                  ratings and summed (xavier-uniform table, SparseAdam)
    r_hat = W h + b              dense 500 -> 12000 (xavier-uniform, zero bias)
    loss = sum over the observed entries of (r_hat[u] - r_u)^2, batch mean over movies
Adam(lr=0.001) for mu, W, b; SparseAdam(lr=0.001) for the encoder table; l2 1e-4 added to
the gradients (dense: weight_decay; the table: its touched rows); batch 32, 40 epochs.

Evaluation, as dmc's (runtime/heldout.h): each test row (movie, user, rating) is predicted
as r_hat[user] of the movie's TRAINING vector; a movie without training ratings, or a user
out of the vocabulary, gets the mean training rating; predictions are clipped to the range
of the training ratings. RMSE over all test rows after each epoch; the best epoch's is
reported (`best_rmse`; `metric` "rmse", lower is better).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Encoder, build_optimizers, id_, parse_id, peer_args, read_rows,  # noqa: E402
                    run_summary, train_step)

USERS, HIDDEN, SLOTS = 12000, 500, 256
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=32, epochs=40, l2=1e-4)


def xavier_table(rows, dim):
    e = nn.Embedding(rows, dim, sparse=True)
    nn.init.xavier_uniform_(e.weight)   # dmc's xavier(): U(-a, a), a = sqrt(6 / (rows + dim))
    e.dmc_optimizer = None
    return e


class IAutoRec(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = xavier_table(USERS, HIDDEN)
        self.mu = nn.Parameter(torch.zeros(HIDDEN))
        self.dec = nn.Linear(HIDDEN, USERS)
        nn.init.xavier_uniform_(self.dec.weight)
        nn.init.zeros_(self.dec.bias)

    def forward(self, ids, vals):
        """ids, vals [B, SLOTS] (padding: id 0, value 0) -> r_hat [B, USERS]"""
        vr = (self.enc(ids) * vals.unsqueeze(-1)).sum(1)
        return self.dec(torch.sigmoid(vr + self.mu))


def group(at, rows, vocab):
    """dmc's group_by: (keys, ids [G, SLOTS], vals [G, SLOTS]) of the rows gathered by movieId."""
    index, ids, vals = {}, [], []
    for row in rows:
        key, user, rating = parse_id(row[at["movieId"]].strip()), row[at["userId"]].strip(), row[at["rating"]]
        if key not in index:
            index[key] = len(ids)
            ids.append([])
            vals.append([])
        g = index[key]
        if len(ids[g]) == SLOTS:
            raise ValueError(f"movie {key} has more than {SLOTS} ratings")
        ids[g].append(vocab.get(parse_id(user), 1) if user else 0)
        vals[g].append(float(rating) if user else 0.0)
    pad = lambda xs, v: [x + [v] * (SLOTS - len(x)) for x in xs]
    return index, torch.tensor(pad(ids, 0)), torch.tensor(pad(vals, 0.0), dtype=torch.float32)


def masked_sse(r_hat, ids, vals):
    """Per movie: the sum of squared errors at its observed users (dmc's masked_mse)."""
    d = (r_hat.gather(1, ids) - vals) * (ids != 0)
    return (d * d).sum(1)


def evaluate(model, test, train_ids, train_vals, fallback, lo, hi):
    """RMSE of the test rows, each predicted from its movie's training vector."""
    groups, users, y = test
    pred = np.full(len(y), fallback, dtype=np.float64)
    has = (groups >= 0) & (users >= 2)
    need = np.unique(groups[has])
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(need), 1024):
            g = torch.from_numpy(need[s:s + 1024])
            r_hat = model(train_ids[g], train_vals[g]).numpy()
            pos = {int(k): j for j, k in enumerate(g)}
            for i in np.nonzero(has & np.isin(groups, g.numpy()))[0]:
                pred[i] = r_hat[pos[int(groups[i])], users[i]]
    model.train()
    pred = np.clip(pred, lo, hi)
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def main():
    a, log, rng = peer_args("autorec", CFG)

    t0 = time.perf_counter()
    at, rows = read_rows(a.train, ",")
    enc = Encoder([id_("user", ["userId"], USERS)], "rating").fit(at, rows)
    vocab = enc.vocab["user"]
    index, ids, vals = group(at, rows, vocab)
    observed = vals[ids != 0].double()
    fallback, lo, hi = float(observed.mean()), float(observed.min()), float(observed.max())
    at, trows = read_rows(a.test, ",")
    tg = np.array([index.get(parse_id(r[at["movieId"]].strip()), -1) for r in trows], dtype=np.int64)
    tu = np.array([vocab.get(parse_id(r[at["userId"]].strip()), 1) if r[at["userId"]].strip() else 0
                   for r in trows], dtype=np.int64)
    ty = np.array([float(r[at["rating"]]) for r in trows], dtype=np.float64)
    ntr, nte = len(ids), len(ty)
    print(f"autorec: {len(rows)} train ratings in {ntr} movies, {nte} test ratings "
          f"({int(((tg < 0) | (tu < 2)).sum())} get the mean {fallback:.4f}), vocab user {len(vocab)} ids, "
          f"loaded in {time.perf_counter() - t0:.1f}s", file=log)

    model = IAutoRec()
    tables, opts, table_opts = build_optimizers(model, CFG)
    B, epochs = CFG["batch"], []
    for ep in range(1, a.epochs + 1):
        perm = torch.from_numpy(rng.permutation(ntr))
        total, t1 = 0.0, time.perf_counter()
        for s in range(0, ntr, B):
            idx = perm[s:s + B]
            sse = masked_sse(model(ids[idx], vals[idx]), ids[idx], vals[idx])
            train_step(sse.mean(), opts, tables, CFG["l2"])
            total += float(sse.sum())
        secs = time.perf_counter() - t1
        rmse = evaluate(model, (tg, tu, ty), ids, vals, fallback, lo, hi)
        epochs.append(dict(epoch=ep, train_loss=total / ntr, test_rmse=rmse, seconds=secs))
        print(f"autorec epoch {ep}/{a.epochs}  loss {total / ntr:.4f}  test rmse {rmse:.4f}  "
              f"{ntr / secs:.0f} movies/s  {secs:.2f}s", file=log)

    best = min(epochs, key=lambda r: r["test_rmse"] if math.isfinite(r["test_rmse"]) else math.inf)
    spe = sum(r["seconds"] for r in epochs) / len(epochs)
    summary = dict(
        **run_summary("autorec", a, CFG, table_opts, ntr, nte), metric="rmse", best_epoch=best["epoch"], best_rmse=best["test_rmse"],
        default_rating=fallback, defaulted_rows=int(((tg < 0) | (tu < 2)).sum()),
        seconds_per_epoch=spe, per_epoch=epochs)
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"best epoch {best['epoch']}: test rmse {best['test_rmse']:.4f}; {spe:.2f} s/epoch "
              f"({a.threads} thread(s))")


if __name__ == "__main__":
    main()
