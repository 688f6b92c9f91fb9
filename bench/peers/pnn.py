"""PyTorch peer of examples/pnn.model: IPNN (Qu et al., ICDM 2016), product = "inner".

e = [user 10, item 10 (table items), year 10, mean genres 10, mean ugenres 10, mean hist 10
(table items)] -> [6, 10] (tables normal(0.01)); lz = dense(flat e [60], 128) (with bias);
lp = dense(inner products of the 15 pairs i < j, 128, no bias) (dmc's pairwise_products
order: (0,1), (0,2), .., (4,5)); l1 = relu(lz + lp); p = sigmoid(mlp(l1, [64, 1],
ReLU, dropout 0.2 after the hidden layer, last layer linear)). No dense statistics.
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, dense, hash_, id_, main, masked_mean, table  # noqa: E402

FEATURES = [
    id_("user", ["userId"], 12000),
    id_("item", ["movieId"], 1000, share="items"),
    id_("year", ["releaseYear"], 100),
    hash_("genres", cols("movieGenre", 1, 3), 64, width=3),
    hash_("ugenres", cols("userGenre", 1, 5), 64, width=5),
    id_("hist", cols("userRatedMovie", 1, 5), 1000, width=5, share="items"),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=256, epochs=5, l2=1e-6)


def pairwise_products(e):
    """dmc's pairwise_products: e [B, f, k] -> [B, f(f-1)/2, k], rows (0,1), (0,2), .."""
    f = e.shape[1]
    return torch.cat([e[:, i + 1:] * e[:, i:i + 1] for i in range(f - 1)], 1)


class PNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 10), table(12000, 10), table(100, 10)
        self.genres, self.ugenres = table(64, 10), table(64, 10)
        self.lz = dense(60, 128)
        self.lp = dense(15, 128, bias=False)
        self.mlp = MLP(128, [64, 1], drop=0.2)

    def forward(self, x):
        e = torch.stack([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                         masked_mean(self.genres(x["genres"]), x["genres"]),
                         masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                         masked_mean(self.items(x["hist"]), x["hist"])], 1)      # [B, 6, 10]
        l1 = F.relu(self.lz(e.flatten(1)) + self.lp(pairwise_products(e).sum(2)))
        return self.mlp(l1)[:, 0]


if __name__ == "__main__":
    main("pnn", FEATURES, "label", CFG, PNN)
