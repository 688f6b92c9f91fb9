"""PyTorch peer of examples/dcn.model: Deep & Cross Network (Wang et al., ADKDD 2017).

x0 = concat(user 8, item 8 (table items), year 8, mean genres 8, mean ugenres 8, mean hist 8
(table items), counts 2 (log, normalize), stats 4 (normalize)) = [54];
cross network (stdlib cross_network, 3 layers): x_{l+1} = x0 * (x_l . w_l) + b_l + x_l,
w_l normal(0.01), b_l zeros (dense params); deep: mlp(x0, [128, 64], ReLU on both layers,
last_act=relu); p = sigmoid(logit(concat(xc, xd) [118])) (logit: zero weights and bias).
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, dense, float_, hash_, id_, main, masked_mean, table  # noqa: E402

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


class CrossLayer(nn.Module):
    """stdlib cross_layer: x0 * sum(x * w) + b + x."""

    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d) * 0.01)     # param([d], init=normal(0.01))
        self.b = nn.Parameter(torch.zeros(d))

    def forward(self, x0, x):
        return x0 * (x * self.w).sum(1, keepdim=True) + self.b + x


class DCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 8), table(12000, 8), table(100, 8)
        self.genres, self.ugenres = table(64, 8), table(64, 8)
        self.cross = nn.ModuleList(CrossLayer(54) for _ in range(3))
        self.deep = MLP(54, [128, 64], last_act=F.relu)
        self.logit = dense(118, 1, zeros=True)   # stdlib logit

    def forward(self, x):
        x0 = torch.cat([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                        masked_mean(self.genres(x["genres"]), x["genres"]),
                        masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                        masked_mean(self.items(x["hist"]), x["hist"]), x["counts"], x["stats"]], 1)
        xc = x0
        for layer in self.cross:
            xc = layer(x0, xc)
        return self.logit(torch.cat([xc, self.deep(x0)], 1))[:, 0]


if __name__ == "__main__":
    main("dcn", FEATURES, "label", CFG, DCN)
