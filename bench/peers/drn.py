"""PyTorch peer of examples/drn.model: DRN (Zheng et al., WWW 2018) as a DQN on logged data.

Rows are paired as dmc's `data tsv next_by uid order ts` does (runtime/dataset.c): each
row's next row is the same uid's next row in ts order (ties by position in the file),
in the training and the test file separately; next(F) of a user's last row is padding
(ids 0; ustats 0, the encoded value of an empty field without a default).
q_net(u, h, st, a) (one set of weights, "q"): s = concat(users[u], mean items[h] (masked),
st) [34]; c = stack(items[a], items[neg1], items[neg2], items[neg3]) [4, 16];
v = logit(relu(dense(s, 64))) (logit: zero weights); ad = mlp(concat(expand(s) [4, 34], c)
[4, 50], [64, 1], ReLU, last linear) [4]; Q = v + ad - mean(ad).
neg1..3 = dmc's negative(item): one id each, uniform over 2..vocab_len-1 of the items
vocabulary, fresh per batch (training and scoring), shared by the online and the next
calls (the features are read inside q_net, not passed in).
q = q_net(user, recent, ustats, item)[0]; pick = stop_gradient(softmax(q_net(next(...)) / 0.1))
(online weights); qt = the same on the next state with the lagged copy of every weight
(tables included), copied at the start and after every 1000th optimizer step (dmc's
rt_params_lag: 945 steps in 3 epochs here, so the initial weights throughout);
y = click + 0.9 * sum(pick * qt); loss = mse(q, y) (gradient through q only).
The output (the score whose test AUC against `click` is reported, as dmc's train
does) is q; no logloss (q is not a probability).
Tables: SparseAdam(lr=0.0005); dense: Adam(lr=0.0005); no l2; batch 256, 3 epochs. TSV.
"""
import copy
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, dense, float_, id_, main, masked_mean, negatives, table, vocab_len  # noqa: E402

FEATURES = [
    id_("user", ["uid"], 700),
    id_("item", ["iid"], 10000, share="items"),
    id_("recent", ["recent"], 10000, width=20, sep=",", share="items"),
    float_("ustats", ["u_cnt", "u_mean"], log=True, normalize=True),
]
NEXT = ("user", "recent", "ustats", "item")
CFG = dict(optimizer=("adam", dict(lr=0.0005)), sparse=("adam", dict(lr=0.0005)),
           batch=256, epochs=3, l2=0.0)
LAG_EVERY, GAMMA, TEMPERATURE = 1000, 0.9, 0.1


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.users, self.items = table(700, 16), table(10000, 16)
        self.v_hidden = dense(34, 64)
        self.v_logit = dense(64, 1, zeros=True)   # stdlib logit
        self.adv = MLP(50, [64, 1])

    def forward(self, u, h, st, a, negs):
        s = torch.cat([self.users(u), masked_mean(self.items(h), h), st], 1)        # [B, 34]
        c = self.items(torch.stack([a, negs[0], negs[1], negs[2]], 1))              # [B, 4, 16]
        v = self.v_logit(F.relu(self.v_hidden(s)))                                  # [B, 1]
        ad = self.adv(torch.cat([s.unsqueeze(1).expand(-1, 4, -1), c], 2))[..., 0]  # [B, 4]
        return v + ad - ad.mean(1, keepdim=True)


class DRN(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.V = V
        self.q = QNet()
        self.lagged = [copy.deepcopy(self.q)]    # a list: not a submodule, so not trained
        for p in self.lagged[0].parameters():
            p.requires_grad_(False)

    def negs(self, x):
        return [negatives(x["item"], 2, self.V) for _ in range(3)]

    def online(self, x, negs):
        return self.q(x["user"], x["recent"], x["ustats"], x["item"], negs)[:, 0]

    def score(self, x):
        return self.online(x, self.negs(x))

    def train_loss(self, x, y):
        negs = self.negs(x)
        q = self.online(x, negs)
        nx = [x["next." + f] for f in NEXT]
        with torch.no_grad():
            pick = torch.softmax(self.q(*nx, negs) / TEMPERATURE, 1)
            qt = self.lagged[0](*nx, negs)
            target = y + GAMMA * (pick * qt).sum(1)
        return F.mse_loss(q, target)

    def after_step(self, step):
        if step % LAG_EVERY == 0:
            self.lagged[0].load_state_dict(self.q.state_dict())


if __name__ == "__main__":
    main("drn", FEATURES, "click", CFG, lambda run: DRN(vocab_len(run.enc, "items")),
         delimiter="\t", next_by=("uid", "ts"), next_features=NEXT)
