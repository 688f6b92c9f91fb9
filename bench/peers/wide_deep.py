"""PyTorch peer of examples/wide_deep.model (Cheng et al., DLRS 2016).

wide = w_item[item] + w_xi[cross(movieId, userRatedMovie1)] + w_xg[cross(movieGenre1,
userGenre1)] (1-wide tables, zeros, FTRL(alpha=0.05, beta=1, l1=0.001, l2=0));
deep = mlp(concat(user 16, item 16 (table items), genre 8, mean ugenres 8, mean hist 16
(table items), stats 4) = [68], [256, 128, 64, 1], ReLU, last layer linear);
p = sigmoid(wide + deep). Other tables: Adagrad(lr=0.05) on sparse gradients; dense:
Adagrad(lr=0.05); no l2; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, cross, float_, hash_, id_, main, masked_mean, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000, share="items"),
    hash_("genre", ["movieGenre1"], 64),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    id_("hist", cols("userRatedMovie", 1, 5), 1000, width=5, share="items"),
    float_("stats", ["movieAvgRating", "movieRatingStddev", "userAvgRating", "userRatingStddev"],
           normalize=True),
    cross("x_item", ["movieId", "userRatedMovie1"], 20000),     # cross(item, last)
    cross("x_genre", ["movieGenre1", "userGenre1"], 1024),      # cross(genre, ugenre)
]
FTRL = ("ftrl", dict(alpha=0.05, beta=1.0, l1=0.001, l2=0.0))
CFG = dict(optimizer=("adagrad", dict(lr=0.05)), sparse=("adagrad", dict(lr=0.05)),
           batch=256, epochs=5, l2=0.0)


class WideDeep(nn.Module):
    def __init__(self):
        super().__init__()
        self.wide_item = table(1000, 1, zeros=True, optimizer=FTRL)
        self.wide_xi = table(20000, 1, zeros=True, optimizer=FTRL)
        self.wide_xg = table(1024, 1, zeros=True, optimizer=FTRL)
        self.items, self.user = table(1000, 16), table(12000, 16)
        self.genre, self.ugenres = table(64, 8), table(64, 8)
        self.mlp = MLP(68, [256, 128, 64, 1])

    def forward(self, x):
        wide = (self.wide_item(x["item"]) + self.wide_xi(x["x_item"]) + self.wide_xg(x["x_genre"]))[:, 0]
        h = torch.cat([self.user(x["user"]), self.items(x["item"]), self.genre(x["genre"]),
                       masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                       masked_mean(self.items(x["hist"]), x["hist"]), x["stats"]], 1)
        return wide + self.mlp(h)[:, 0]


if __name__ == "__main__":
    main("wide_deep", FEATURES, "label", CFG, WideDeep)
