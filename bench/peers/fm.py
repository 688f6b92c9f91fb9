"""PyTorch peer of examples/fm.model: field-level Factorization Machine (Rendle 2010).

first = w of user, item, year, genres, ugenres, hist (declared *_w tables, zeros)
        + logit(stats);  e = [user_v, item_v, year_v, sum genres, sum ugenres, sum hist]
        (declared *_v tables, 8 wide, normal(0.01)); p = sigmoid(first + fm(e)).
item and hist share item_w/item_v (one vocabulary); genres and ugenres share genre_*.
Tables: Adagrad(lr=0.05) on sparse gradients; dense (the logit): Adam(lr=0.001);
l2 1e-6; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cols, dense, first_order, float_, fm, hash_, id_, main, masked_sum, table  # noqa: E402

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
ROWS = {"user": 12000, "item": 1000, "year": 100, "genre": 64}
TABLE = {"user": "user", "item": "item", "year": "year", "genres": "genre", "ugenres": "genre",
         "hist": "item"}


class FM(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.ModuleDict({t: table(n, 1, zeros=True) for t, n in ROWS.items()})
        self.v = nn.ModuleDict({t: table(n, 8) for t, n in ROWS.items()})
        self.logit = dense(4, 1, zeros=True)   # stdlib logit

    def forward(self, x):
        first = self.logit(x["stats"])[:, 0]
        fields = []
        for f, t in TABLE.items():
            first = first + first_order(self.w[t], x[f])
            v = self.v[t](x[f])
            fields.append(masked_sum(v, x[f]) if x[f].dim() == 2 else v)
        return first + fm(torch.stack(fields, 1))


if __name__ == "__main__":
    main("fm", FEATURES, "label", CFG, FM)
