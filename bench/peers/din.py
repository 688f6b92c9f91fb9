"""PyTorch peer of examples/din.model: Deep Interest Network (Zhou et al., KDD 2018).

q = items[item], keys = items[recent] ([20, 16], padding masked; candidate and history
share the table and one vocabulary); stdlib din_attention(q, keys, hidden=[36],
act=dice): z = concat(q, k, q - k, q * k) [20, 64] -> dense 36 -> dice -> dense 1
(Glorot, bias), times the mask (weights not softmax-normalised); interest = sum_t w_t k_t;
x = concat(user 16, q, interest, mean genres 8, counts 2 (log, normalize), means 2
(normalize)) = [60]; p = sigmoid(mlp(x, [200, 80, 1], act=dice), last layer linear).
Dice (common.Dice): alpha per channel (a dense param, zeros); standardize per element
(the attention's Dice: per (step, channel), padded steps included) over the batch,
biased variance, eps 1e-5; running statistics (momentum 0.99) used when scoring, as
dmc's kernel since commit a8eb846. The test rows are scored in batches of 256 in file
order, as dmc's scorer does (it only matters with DMC_DICE_BATCH_STATS=1).
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 3 epochs. TSV.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, Dice, dense, float_, hash_, id_, main, mask, masked_mean, table  # noqa: E402

FEATURES = [
    id_("user", ["uid"], 700),
    id_("item", ["iid"], 10000, share="items"),
    id_("recent", ["recent"], 10000, width=20, sep=",", share="items"),
    hash_("genres", ["genres"], 64, width=10, sep="|"),
    float_("counts", ["u_cnt", "i_cnt"], log=True, normalize=True),
    float_("means", ["u_mean", "i_mean"], normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adam", dict(lr=0.001)),
           batch=256, epochs=3, l2=1e-6, score_batch=256)


class DinAttention(nn.Module):
    """stdlib din_attention: [B, d], [B, t, d] (masked by ids) -> [B, t], 0 on padding."""

    def __init__(self, t, d, hidden=(36,)):
        super().__init__()
        self.mlp = MLP(4 * d, list(hidden), act=Dice, last_act=Dice, lead=(t,))
        self.out = dense(hidden[-1], 1)

    def forward(self, q, keys, ids):
        qs = q.unsqueeze(1).expand_as(keys)
        z = torch.cat([qs, keys, qs - keys, qs * keys], -1)
        return self.out(self.mlp(z))[..., 0] * mask(ids)[..., 0]


class DIN(nn.Module):
    def __init__(self):
        super().__init__()
        self.items, self.user, self.genres = table(10000, 16), table(700, 16), table(64, 8)
        self.att = DinAttention(20, 16)
        self.mlp = MLP(60, [200, 80, 1], act=Dice)

    def forward(self, x):
        q, keys = self.items(x["item"]), self.items(x["recent"])
        w = self.att(q, keys, x["recent"])                                  # [B, 20]
        interest = (w.unsqueeze(-1) * keys * mask(x["recent"])).sum(1)     # weighted_sum
        h = torch.cat([self.user(x["user"]), q, interest,
                       masked_mean(self.genres(x["genres"]), x["genres"]), x["counts"], x["means"]], 1)
        return self.mlp(h)[:, 0]


if __name__ == "__main__":
    main("din", FEATURES, "click", CFG, DIN, delimiter="\t")
