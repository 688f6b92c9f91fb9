"""PyTorch peer of examples/youtube_dnn.model: YouTube DNN candidate generation (Covington
et al., RecSys 2016).

u = mlp(concat(mean items[recent] [32] (padding masked), mean rgenres_emb[rgenres] [16],
ucnt (log, normalize), umean (normalize), time (ts, normalize)) [51], [256, 128, 64], ReLU
after every layer, the last too) [64]. `item` and `recent` look ids up in different
tables (item_out, items), so each has its own vocabulary, as in dmc.
Loss, as dmc's sampled_softmax(u, item_out, item, samples=500) (compiler/builtins.c): per
example, 500 ids drawn uniformly (with replacement) from 2..vocab_len-1 of item's
vocabulary, fresh for every batch and independent between examples; logits = [u .
item_out[target], u . item_out[s_1..500]]; loss = logsumexp(logits) - logits[0]. No
output bias, no log Q correction (a constant under uniform sampling), and a sample equal
to the target is not removed. (TensorFlow's sampled_softmax_loss instead shares one set
of samples across the batch, draws them log-uniformly by default, subtracts log Q and
removes accidental hits.)
Metric, as dmc's recall@k (runtime/retrieve.c): every test row's u scored against
item_out rows 2..vocab_len-1 (not padding, not out of vocabulary) by dot product; a hit
when the target's row is among the 50 best; rows with an empty target are not counted,
an out-of-vocabulary target counts as a miss. Also recall@10 and the test loss (fresh
samples), as dmc's train reports them.
Tables: Adagrad(lr=0.05) (initial accumulator 0.1, eps 1e-10, as dmc); dense:
Adam(lr=0.001); no l2; batch 512, 5 epochs. TSV.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, PAD, float_, hash_, id_, main, masked_mean, negatives, table, vocab_len  # noqa: E402

FEATURES = [
    id_("item", ["iid"], 10000),
    id_("recent", ["recent"], 10000, width=20, sep=","),
    hash_("rgenres", ["recent_genres"], 64, width=20, sep=","),
    float_("ucnt", ["u_cnt"], log=True, normalize=True),
    float_("umean", ["u_mean"], normalize=True),
    float_("time", ["ts"], normalize=True),
]
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adagrad", dict(lr=0.05)),
           batch=512, epochs=5, l2=0.0)
SAMPLES, K = 500, 50


class YoutubeDNN(nn.Module):
    metric = f"recall@{K}"              # dmc's name; the best epoch's is reported

    def __init__(self, V):
        super().__init__()
        self.V = V                                   # rows of item's vocabulary in use
        self.items, self.item_out = table(10000, 32), table(10000, 64)
        self.rgenres_emb = table(64, 16)
        self.tower = MLP(51, [256, 128, 64], last_act=torch.relu)

    def user(self, x):
        h = torch.cat([masked_mean(self.items(x["recent"]), x["recent"]),
                       masked_mean(self.rgenres_emb(x["rgenres"]), x["rgenres"]),
                       x["ucnt"], x["umean"], x["time"]], 1)                       # [B, 51]
        return self.tower(h)                                                      # [B, 64]

    def score(self, x):
        """What the model outputs, as dmc's `output user_vec = u`: the user vector."""
        return self.user(x)

    def sampled_softmax(self, x):
        """Per-example loss [B]: the target against SAMPLES uniform samples."""
        u, tgt = self.user(x), x["item"]
        neg = negatives(tgt.unsqueeze(1).expand(-1, SAMPLES), 2, self.V)           # [B, S]
        rows = self.item_out(torch.cat([tgt.unsqueeze(1), neg], 1))                # [B, S+1, 64]
        logits = torch.bmm(rows, u.unsqueeze(2))[..., 0]                           # [B, S+1]
        return torch.logsumexp(logits, 1) - logits[:, 0]

    def train_loss(self, x, y):
        return self.sampled_softmax(x).mean()

    def evaluate(self, x, y, batch=2048):
        n = len(y)
        cand = self.item_out.weight[2:min(self.V, self.item_out.num_embeddings)]  # [C, 64]
        hits, hits10, rows, loss = 0, 0, 0, 0.0
        for s in range(0, n, batch):
            b = {k: v[s:s + batch] for k, v in x.items()}
            u, tgt = self.user(b), b["item"]
            top = (u @ cand.T).topk(K, dim=1).indices + 2                         # [b, K] rows
            found = top == tgt.unsqueeze(1)       # an OOV target (1) is never a candidate
            counted = tgt != PAD
            hits += int((found.any(1) & counted).sum())
            hits10 += int((found[:, :10].any(1) & counted).sum())
            rows += int(counted.sum())
            loss += float(self.sampled_softmax(b).sum())
        return {self.metric: hits / rows, "recall@10": hits10 / rows, "test_loss": loss / n}


if __name__ == "__main__":
    main("youtube_dnn", FEATURES, "click", CFG, lambda run: YoutubeDNN(vocab_len(run.enc, "item")),
         delimiter="\t")
