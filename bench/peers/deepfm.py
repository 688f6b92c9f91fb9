"""PyTorch peer of examples/deepfm.model (Guo et al., IJCAI 2017).

e = [user 8, item 8 (table items), year 8, mean genres 8, mean ugenres 8, mean hist 8
(table items)] -> [6, 8]; first = 1-wide weights of user, item, year, genres, ugenres,
hist (own tables, normal(0.01); lists: real ids summed) + logit(stats);
y_dnn = mlp(concat(e flattened [48], stats) = [52], [200, 200, 1], ReLU, dropout 0.2
after each hidden layer); p = sigmoid(first + fm(e) + y_dnn).
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 5 epochs.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, cols, dense, first_order, float_, fm, hash_, id_, main, masked_mean, table  # noqa: E402

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
           batch=256, epochs=5, l2=1e-6)
IDS = {"user": 12000, "item": 1000, "year": 100, "genres": 64, "ugenres": 64, "hist": 1000}


class DeepFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.year = table(1000, 8), table(12000, 8), table(100, 8)
        self.genres, self.ugenres = table(64, 8), table(64, 8)
        self.w = nn.ModuleDict({f: table(n, 1) for f, n in IDS.items()})
        self.logit = dense(4, 1, zeros=True)   # stdlib logit
        self.mlp = MLP(52, [200, 200, 1], drop=0.2)

    def forward(self, x):
        e = torch.stack([self.user(x["user"]), self.items(x["item"]), self.year(x["year"]),
                         masked_mean(self.genres(x["genres"]), x["genres"]),
                         masked_mean(self.ugenres(x["ugenres"]), x["ugenres"]),
                         masked_mean(self.items(x["hist"]), x["hist"])], 1)      # [B, 6, 8]
        first = self.logit(x["stats"])[:, 0]
        for f, t in self.w.items():
            first = first + first_order(t, x[f])
        y_dnn = self.mlp(torch.cat([e.flatten(1), x["stats"]], 1))[:, 0]
        return first + fm(e) + y_dnn


if __name__ == "__main__":
    main("deepfm", FEATURES, "label", CFG, DeepFM)
