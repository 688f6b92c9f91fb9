"""PyTorch peer of examples/lr.model: logistic regression, one FTRL-trained weight per id.

z = sum of 1-wide table weights of user, item, year, genres, ugenres, hist (lists: the
weights of their real ids) + logit(concat(counts, mstats, ustats)); p = sigmoid(z).
Tables: embed(F, 1) each, normal(0.01), FTRL(alpha=0.05, beta=1, l1=0.0005, l2=0.001);
the logit's dense weights: Adam(lr=0.01). Batch 256, 5 epochs, no model-level l2.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cols, dense, first_order, float_, hash_, id_, main, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000),
    id_("year", ["releaseYear"], 100),
    hash_("genres", cols("movieGenre", 1, 3), 64, width=3),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    id_("hist", cols("userRatedMovie", 1, 5), 1000, width=5),   # own table: own vocabulary
    float_("counts", ["movieRatingCount", "userRatingCount"], log=True, normalize=True),
    float_("mstats", ["movieAvgRating", "movieRatingStddev"], normalize=True),
    float_("ustats", ["userAvgReleaseYear", "userReleaseYearStddev", "userAvgRating",
                      "userRatingStddev"], normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.01)),
           sparse=("ftrl", dict(alpha=0.05, beta=1.0, l1=0.0005, l2=0.001)),
           batch=256, epochs=5, l2=0.0)
IDS = {"user": 12000, "item": 1000, "year": 100, "genres": 64, "ugenres": 64, "hist": 1000}


class LR(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.ModuleDict({f: table(n, 1) for f, n in IDS.items()})
        self.logit = dense(8, 1, zeros=True)   # stdlib logit

    def forward(self, x):
        z = self.logit(torch.cat([x["counts"], x["mstats"], x["ustats"]], 1))[:, 0]
        for f, t in self.w.items():
            z = z + first_order(t, x[f])
        return z


if __name__ == "__main__":
    main("lr", FEATURES, "label", CFG, LR)
