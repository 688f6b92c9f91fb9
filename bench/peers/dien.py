"""PyTorch peer of examples/dien.model: Deep Interest Evolution Network (Zhou et al., AAAI 2019).

e = items[recent] ([20, 16], most recent first, trailing padding), m its 0/1 mask,
en = items[neg] with neg = dmc's negative(recent): for every real step an id drawn
uniformly from 2..vocab_len-1 of the items vocabulary, fresh for every batch (training
and scoring), 0 on padding. stdlib rnn: hs = gru(e, m, 16, reverse=true) (a step walks
t = 19..0: u = m_t sigmoid(W_u x_t + b_u + h U_u), r = sigmoid(W_r x_t + b_r + h U_r),
c = tanh(W_c x_t + b_c + r * (h U_c)), h = m_t ((1-u) h + u c) + (1-m_t) h, h_0 = 0;
W Glorot with zero bias, U Glorot; hs[t] = the state after step t);
aux = -sum_{t=1..19} m_t (log_sigmoid(<hs_t, e_{t-1}>) + log_sigmoid(-<hs_t, en_{t-1}>))
      / (sum_{t=1..19} m_t + 1e-6);
a = bilinear_attention(q, hs, m) (s_t = <W hs_t, q>, W 16x16 no bias; masked softmax
with the max over all steps subtracted, sum + 1e-9); ev = augru(hs, a, m, 16,
reverse=true) (its own weights; u scaled by a_t); x = concat(user 16, q, ev[0], mean
genres 8, counts 2, means 2) = [60]; p = sigmoid(mlp(x, [200, 80, 1], act=dice)) (Dice
as in din.py: running statistics when scoring). loss = bce(p) + 1.0 * aux, batch mean.
Tables: SparseAdam(lr=0.001); dense: Adam(lr=0.001); l2 1e-6; batch 256, 3 epochs. TSV.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MLP, Dice, dense, float_, hash_, id_, main, mask, masked_mean, negatives, table, vocab_len  # noqa: E402

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


def xavier(n, k):
    w = torch.empty(n, k)
    nn.init.xavier_uniform_(w)
    return nn.Parameter(w)


class AUGRU(nn.Module):
    """stdlib augru (gru: a = m): x [B, t, d], a [B, t], m [B, t] -> all states [B, t, n]."""

    def __init__(self, d, n):
        super().__init__()
        self.xu, self.xr, self.xc = dense(d, n), dense(d, n), dense(d, n)
        self.uu, self.ur, self.uc = xavier(n, n), xavier(n, n), xavier(n, n)

    def forward(self, x, a, m, reverse=False):
        B, t, _ = x.shape
        xu, xr, xc = self.xu(x), self.xr(x), self.xc(x)
        h = x.new_zeros(B, self.uu.shape[0])
        out = [None] * t
        for s in (range(t - 1, -1, -1) if reverse else range(t)):
            u = a[:, s:s + 1] * torch.sigmoid(xu[:, s] + h @ self.uu)
            r = torch.sigmoid(xr[:, s] + h @ self.ur)
            c = torch.tanh(xc[:, s] + r * (h @ self.uc))
            ms = m[:, s:s + 1]
            h = ms * ((1 - u) * h + u * c) + (1 - ms) * h
            out[s] = h
        return torch.stack(out, 1)


def log_sigmoid(x):
    """stdlib log_sigmoid: -relu(-x) - log(1 + exp(-|x|))."""
    return -F.relu(-x) - torch.log(1 + torch.exp(-x.abs()))


class DIEN(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.V = V       # items vocabulary in use: negatives are drawn from 2..V-1
        self.items, self.user, self.genres = table(10000, 16), table(700, 16), table(64, 8)
        self.gru = AUGRU(16, 16)
        self.att = dense(16, 16, bias=False)
        self.augru = AUGRU(16, 16)
        self.mlp = MLP(60, [200, 80, 1], act=Dice)

    def forward(self, x, with_aux=False):
        ids = x["recent"]
        q, e = self.items(x["item"]), self.items(ids)
        m = mask(ids)[..., 0]                                              # [B, 20]
        hs = self.gru(e, m, m, reverse=True)                               # [B, 20, 16]
        s = (self.att(hs) * q.unsqueeze(1)).sum(2)                         # [B, 20]
        ex = torch.exp(s - s.max(1, keepdim=True).values.detach()) * m     # masked_softmax
        a = ex / (ex.sum(1, keepdim=True) + 1e-9)
        ev = self.augru(hs, a, m, reverse=True)
        h = torch.cat([self.user(x["user"]), q, ev[:, 0],
                       masked_mean(self.genres(x["genres"]), x["genres"]), x["counts"], x["means"]], 1)
        logit = self.mlp(h)[:, 0]
        if not with_aux:
            return logit
        en = self.items(negatives(ids, 2, self.V))
        h1 = hs[:, 1:]
        pos = (h1 * e[:, :19]).sum(2)
        ngs = (h1 * en[:, :19]).sum(2)
        ma = m[:, 1:]
        aux = -(ma * (log_sigmoid(pos) + log_sigmoid(-ngs))).sum(1) / (ma.sum(1) + 1e-6)
        return logit, aux

    def train_loss(self, b, y):
        logit, aux = self(b, with_aux=True)
        return F.binary_cross_entropy_with_logits(logit, y) + aux.mean()


if __name__ == "__main__":
    main("dien", FEATURES, "click", CFG, lambda run: DIEN(vocab_len(run.enc, "items")), delimiter="\t")
