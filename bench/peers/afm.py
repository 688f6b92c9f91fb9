"""PyTorch peer of examples/afm.model: Attentional FM (Xiao et al., IJCAI 2017).

e = [user 16, item 16 (table items), year 16, sum genres 16, sum ugenres 16, sum hist 16
(table items)] -> [6, 16]; first = 1-wide weights of the six fields (own tables,
normal(0.01)) + logit(stats); stdlib afm_attention(e, t=8, drop=0.2): pairs = the 15
products v_i * v_j (i < j), s = dense(relu(dense(pairs, 8)), 1, no bias), a =
softmax over the pairs, pooled = sum a * pairs, dropout 0.2, out = dense(pooled, 1, no
bias) (Glorot); p = sigmoid(first + out).
Tables: Adagrad(lr=0.05) on sparse gradients; dense: Adam(lr=0.001); l2 1e-5;
batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cols, dense, first_order, float_, hash_, id_, main, masked_sum, table  # noqa: E402
from pnn import pairwise_products  # noqa: E402

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
           batch=256, epochs=5, l2=1e-5)
IDS = {"user": 12000, "item": 1000, "year": 100, "genres": 64, "ugenres": 64, "hist": 1000}


class AFMAttention(nn.Module):
    def __init__(self, k, t=8, drop=0.0):
        super().__init__()
        self.att, self.h = dense(k, t), dense(t, 1, bias=False)
        self.p = dense(k, 1, bias=False)
        self.drop = drop

    def forward(self, e):
        pairs = pairwise_products(e)                                  # [B, 15, k]
        a = torch.softmax(self.h(F.relu(self.att(pairs)))[..., 0], 1)    # [B, 15]
        pooled = (a.unsqueeze(-1) * pairs).sum(1)                     # [B, k]
        if self.drop > 0:
            pooled = F.dropout(pooled, self.drop, self.training)
        return self.p(pooled)[:, 0]


class AFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 16), table(12000, 16), table(100, 16)
        self.genres, self.ugenres = table(64, 16), table(64, 16)
        self.w = nn.ModuleDict({f: table(n, 1) for f, n in IDS.items()})
        self.logit = dense(4, 1, zeros=True)   # stdlib logit
        self.afm = AFMAttention(16, t=8, drop=0.2)

    def forward(self, x):
        e = torch.stack([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                         masked_sum(self.genres(x["genres"]), x["genres"]),
                         masked_sum(self.ugenres(x["ugenres"]), x["ugenres"]),
                         masked_sum(self.items(x["hist"]), x["hist"])], 1)      # [B, 6, 16]
        first = self.logit(x["stats"])[:, 0]
        for f, t in self.w.items():
            first = first + first_order(t, x[f])
        return first + self.afm(e)


if __name__ == "__main__":
    main("afm", FEATURES, "label", CFG, AFM)
