"""PyTorch peer of examples/nfm.model: Neural Factorization Machines (He & Chua, SIGIR 2017).

e = [user 16, item 16 (table items), year 16, sum genres 16, sum ugenres 16, sum hist 16
(table items)] -> [6, 16]; first = 1-wide weights of user, item, year, genres, ugenres,
hist (own tables, normal(0.01); lists: real ids summed) + logit(stats);
bi = dropout(bi_interaction(e), 0.3) (0.5 ((sum v)^2 - sum v^2), a 16-vector);
p = sigmoid(first + mlp(bi, [64, 1], ReLU, dropout 0.2 after the hidden layer)).
Tables: Adagrad(lr=0.05) on sparse gradients; dense: Adam(lr=0.001); l2 1e-6;
batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, dense, first_order, float_, hash_, id_, main, masked_sum, table  # noqa: E402

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
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adagrad", dict(lr=0.05)),
           batch=256, epochs=5, l2=1e-6)
IDS = {"user": 12000, "item": 1000, "year": 100, "genres": 64, "ugenres": 64, "hist": 1000}


def bi_interaction(e):
    s = e.sum(1)
    return 0.5 * (s * s - (e * e).sum(1))


class NFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 16), table(12000, 16), table(100, 16)
        self.genres, self.ugenres = table(64, 16), table(64, 16)
        self.w = nn.ModuleDict({f: table(n, 1) for f, n in IDS.items()})
        self.logit = dense(4, 1, zeros=True)   # stdlib logit
        self.mlp = MLP(16, [64, 1], drop=0.2)

    def forward(self, x):
        e = torch.stack([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                         masked_sum(self.genres(x["genres"]), x["genres"]),
                         masked_sum(self.ugenres(x["ugenres"]), x["ugenres"]),
                         masked_sum(self.items(x["hist"]), x["hist"])], 1)      # [B, 6, 16]
        first = self.logit(x["stats"])[:, 0]
        for f, t in self.w.items():
            first = first + first_order(t, x[f])
        bi = F.dropout(bi_interaction(e), 0.3, self.training)
        return first + self.mlp(bi)[:, 0]


if __name__ == "__main__":
    main("nfm", FEATURES, "label", CFG, NFM)
