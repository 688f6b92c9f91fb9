"""PyTorch peer of examples/mlr.model: MLR / LS-PLM (Gai et al., 2017), m = 12 regions.

gate  = embed(user, 12) + embed(item, 12) + sum genres 12 + sum ugenres 12 + dense(floats, 12)
piece = the same with its own tables and dense layer (every embed(F, m) is a new table,
        normal(0.01); floats = concat(counts (log, normalize), stats (normalize)) [6];
        dense: Glorot weights, zero bias)
p = sum(softmax(gate) * sigmoid(piece)): a probability, so the loss is dmc's bce of p
(clamped to [1e-7, 1 - 1e-7]), not BCE with logits.
Tables: FTRL(alpha=0.05, beta=1, l1=0.001, l2=0.001); dense: Adam(lr=0.001); l2 1e-6
(added to the gradient of the dense weights and of the touched table rows, as dmc);
batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import bce_prob, cols, dense, float_, hash_, id_, main, masked_sum, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000),
    hash_("genres", cols("movieGenre", 1, 3), 64, width=3),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    float_("counts", ["movieRatingCount", "userRatingCount"], log=True, normalize=True),
    float_("stats", ["movieAvgRating", "movieRatingStddev", "userAvgRating", "userRatingStddev"],
           normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)),
           sparse=("ftrl", dict(alpha=0.05, beta=1.0, l1=0.001, l2=0.001)),
           batch=256, epochs=5, l2=1e-6)
M = 12
IDS = {"user": 12000, "item": 1000, "genres": 64, "ugenres": 64}


class Linear(nn.Module):
    """u . x for one-hot fields: a sum of per-id m-vectors, plus dense(floats, m)."""

    def __init__(self):
        super().__init__()
        self.t = nn.ModuleDict({f: table(n, M) for f, n in IDS.items()})
        self.floats = dense(6, M)

    def forward(self, x):
        out = self.floats(torch.cat([x["counts"], x["stats"]], 1))
        for f, t in self.t.items():
            e = t(x[f])
            out = out + (masked_sum(e, x[f]) if x[f].dim() == 2 else e)
        return out


class MLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate, self.piece = Linear(), Linear()

    def forward(self, x):
        return (torch.softmax(self.gate(x), -1) * torch.sigmoid(self.piece(x))).sum(1)   # p

    def train_loss(self, b, y):
        return bce_prob(self(b), y)

    def score(self, b):
        return self(b)


if __name__ == "__main__":
    main("mlr", FEATURES, "label", CFG, MLR)
