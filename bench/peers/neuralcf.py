"""PyTorch peer of examples/neuralcf.model: NeuMF (He et al., WWW 2017) on mllatest.

gmf = user_8 * item_8; tower = mlp(concat(user_32, item_32), [64, 32, 16], ReLU on every
layer, the last too); p = sigmoid(w . concat(gmf, tower) + b). Four tables, normal(0.01):
SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 512, 5 epochs. TSV data.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, dense, id_, main, table  # noqa: E402

FEATURES = [id_("user", ["uid"], 700), id_("item", ["iid"], 10000)]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=512, epochs=5, l2=1e-6)


class NeuralCF(nn.Module):
    def __init__(self):
        super().__init__()
        self.user_gmf, self.item_gmf = table(700, 8), table(10000, 8)
        self.user_mlp, self.item_mlp = table(700, 32), table(10000, 32)
        self.tower = MLP(64, [64, 32, 16], last_act=F.relu)
        self.logit = dense(24, 1, zeros=True)   # stdlib logit

    def forward(self, x):
        u, i = x["user"], x["item"]
        gmf = self.user_gmf(u) * self.item_gmf(i)
        tower = self.tower(torch.cat([self.user_mlp(u), self.item_mlp(i)], 1))
        return self.logit(torch.cat([gmf, tower], 1))[:, 0]


if __name__ == "__main__":
    main("neuralcf", FEATURES, "click", CFG, NeuralCF, delimiter="\t")
