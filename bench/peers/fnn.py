"""PyTorch peer of examples/fnn.model: FNN (Zhang et al., ECIR 2016), FM-initialised.

fnn.model reads its eight tables (user_w/v, item_w/v, year_w/v, genre_w/v) from fm.ckpt,
the checkpoint examples/fm.model writes (its best epoch). The peer does the same with
the fm peer: it first trains bench/peers/fm.py's model in this process, with the same
seed (so exactly the fm peer's run of that seed), keeps the state of its best epoch (by
test AUC, as dmc keeps its checkpoint), and starts FNN's tables from it. (dmc's fm.ckpt
itself is not loaded: its genre tables are indexed by XXH3 buckets, the peers' by
BLAKE2b ones.) The --json summary reports the FM run under "pretrained".
z = concat(user_w, user_v, item_w, item_v, year_w, year_v, sum genre_w(genres),
sum genre_v(genres), sum genre_w(ugenres), sum genre_v(ugenres), sum item_w(hist),
sum item_v(hist)) = [54] (lists: real ids summed); p = sigmoid(mlp(z, [128, 64, 1],
tanh, dropout 0.2 after each hidden layer, last layer linear)).
Tables: Adagrad(lr=0.01) on sparse gradients (fresh accumulators); dense: Adam(lr=0.001);
l2 1e-6; batch 256, 5 epochs. Seconds per epoch count FNN's epochs only.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fm  # noqa: E402
from common import MLP, main, masked_sum  # noqa: E402

FEATURES = fm.FEATURES     # the same vocabularies as fm.model (FNN does not use `stats`)
CFG = dict(optimizer=("adam", dict(lr=0.001)), sparse=("adagrad", dict(lr=0.01)),
           batch=256, epochs=5, l2=1e-6)
TABLE = fm.TABLE           # feature -> table: user, item, year, genres/ugenres -> genre, hist -> item


def from_checkpoint(weight):
    """table ... init checkpoint(...): a table holding the given values."""
    e = nn.Embedding(*weight.shape, sparse=True)
    with torch.no_grad():
        e.weight.copy_(weight)
    e.dmc_optimizer = None
    return e


class FNN(nn.Module):
    def __init__(self, fm_model):
        super().__init__()
        self.w = nn.ModuleDict({t: from_checkpoint(fm_model.w[t].weight) for t in fm.ROWS})
        self.v = nn.ModuleDict({t: from_checkpoint(fm_model.v[t].weight) for t in fm.ROWS})
        self.mlp = MLP(54, [128, 64, 1], act=torch.tanh, drop=0.2)

    def forward(self, x):
        z = []
        for f, t in TABLE.items():
            for tab in (self.w[t], self.v[t]):
                e = tab(x[f])
                z.append(masked_sum(e, x[f]) if x[f].dim() == 2 else e)
        return self.mlp(torch.cat(z, 1))[:, 0]


def make(run):
    fm_model = fm.FM()
    epochs, _, state = run.fit("fm (pre-training)", fm_model, fm.CFG, fm.CFG["epochs"], keep_best=True)
    fm_model.load_state_dict(state)
    best = max(epochs, key=lambda r: r["test_auc"])
    run.extra["pretrained"] = dict(model="fm", peer="bench/peers/fm.py", epochs=len(epochs),
                                   best_epoch=best["epoch"], best_auc=best["test_auc"],
                                   per_epoch=epochs)
    return FNN(fm_model)


if __name__ == "__main__":
    main("fnn", FEATURES, "label", CFG, make)
