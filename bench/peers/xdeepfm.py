"""PyTorch peer of examples/xdeepfm.model (Lian et al., KDD 2018).

e = [user 8, item 8 (table items), year 8, mean genres 8, mean ugenres 8, mean hist 8
(table items)] -> [6, 8]; linear = 1-wide weights of the six fields (own tables,
normal(0.01)) + logit(stats); y_cin = dense(cin(e, [32, 32, 32]) [96], 1, no bias)
(stdlib cin: X_k[n] = sum_{i,j} W_k[i*m + j, n] X_{k-1}[i] * X0[j], a dense layer
without bias over the h*m grid, identity activation, each layer sum-pooled over D,
all layers concatenated); y_dnn = mlp(concat(flat e [48], stats) [52], [256, 128, 1],
ReLU, last layer linear); p = sigmoid(linear + y_cin + y_dnn).
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-5; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, dense, first_order, float_, hash_, id_, main, masked_mean, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000, share="items"),
    id_("year", ["releaseYear"], 100),
    hash_("genres", cols("movieGenre", 1, 3), 64, width=3),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    id_("hist", cols("userRatedMovie", 1, 5), 1000, width=5, share="items"),
    float_("stats", ["movieAvgRating", "movieRatingStddev", "userAvgRating", "userRatingStddev"],
           normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=256, epochs=5, l2=1e-5)
IDS = {"user": 12000, "item": 1000, "year": 100, "genres": 64, "ugenres": 64, "hist": 1000}


class CIN(nn.Module):
    def __init__(self, m, sizes):
        super().__init__()
        hs = [m] + sizes[:-1]
        self.layers = nn.ModuleList(dense(h * m, s, bias=False) for h, s in zip(hs, sizes))

    def forward(self, x0):                          # [B, m, D]
        B, m, D = x0.shape
        x, out = x0, []
        for layer in self.layers:
            z = (x.unsqueeze(2) * x0.unsqueeze(1)).reshape(B, -1, D)   # [B, h*m, D]: x[a] * x0[b]
            x = layer(z.transpose(1, 2)).transpose(1, 2)               # [B, H, D]
            out.append(x.sum(2))
        return torch.cat(out, 1)


class XDeepFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 8), table(12000, 8), table(100, 8)
        self.genres, self.ugenres = table(64, 8), table(64, 8)
        self.w = nn.ModuleDict({f: table(n, 1) for f, n in IDS.items()})
        self.logit = dense(4, 1, zeros=True)   # stdlib logit
        self.cin = CIN(6, [32, 32, 32])
        self.cin_out = dense(96, 1, bias=False)
        self.mlp = MLP(52, [256, 128, 1])

    def forward(self, x):
        e = torch.stack([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                         masked_mean(self.genres(x["genres"]), x["genres"]),
                         masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                         masked_mean(self.items(x["hist"]), x["hist"])], 1)      # [B, 6, 8]
        linear = self.logit(x["stats"])[:, 0]
        for f, t in self.w.items():
            linear = linear + first_order(t, x[f])
        y_cin = self.cin_out(self.cin(e))[:, 0]
        y_dnn = self.mlp(torch.cat([e.flatten(1), x["stats"]], 1))[:, 0]
        return linear + y_cin + y_dnn


if __name__ == "__main__":
    main("xdeepfm", FEATURES, "label", CFG, XDeepFM)
