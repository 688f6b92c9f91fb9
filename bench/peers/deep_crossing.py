"""PyTorch peer of examples/deep_crossing.model (Shan et al., KDD 2016).

x = concat(user 16, item 16 (table items), year 4, mean genres 8, mean ugenres 8,
mean hist 16 (table items), counts 2, stats 4) = [74]; three residual units
relu(x + W1 relu(W0 x + b0) + b1) of inner width 64; p = sigmoid(w . x + b).
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cols, dense, float_, hash_, id_, main, masked_mean, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000, share="items"),
    id_("year", ["releaseYear"], 100),
    hash_("genres", cols("movieGenre", 1, 3), 64, width=3),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    id_("hist", cols("userRatedMovie", 1, 5), 1000, width=5, share="items"),
    float_("counts", ["movieRatingCount", "userRatingCount"], log=True, normalize=True),
    float_("stats", ["movieAvgRating", "movieRatingStddev", "userAvgRating", "userRatingStddev"],
           normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=256, epochs=5, l2=1e-6)


class ResidualUnit(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.inner, self.outer = dense(d, inner), dense(inner, d)

    def forward(self, x):
        return F.relu(x + self.outer(F.relu(self.inner(x))))


class DeepCrossing(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user = table(1000, 16), table(12000, 16)
        self.year, self.genres, self.ugenres = table(100, 4), table(64, 8), table(64, 8)
        self.units = nn.Sequential(*[ResidualUnit(74, 64) for _ in range(3)])
        self.logit = dense(74, 1, zeros=True)   # stdlib logit

    def forward(self, x):
        h = torch.cat([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                       masked_mean(self.genres(x["genres"]), x["genres"]),
                       masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                       masked_mean(self.items(x["hist"]), x["hist"]), x["counts"], x["stats"]], 1)
        return self.logit(self.units(h))[:, 0]


if __name__ == "__main__":
    main("deep_crossing", FEATURES, "label", CFG, DeepCrossing)
