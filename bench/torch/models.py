"""The speed benchmark's configurations in PyTorch: the same models as bench/models/*.model,
written the way PyTorch runs them fastest (bench/torch/README.md lists the choices).

Criteo-like (configuration a): 26 categorical fields of 100,000 ids, 13 dense features,
embedding 16, MLP 400-400-400 ReLU. The 26 tables are one nn.Embedding(26 * 100000, 16,
sparse=True) looked up at id + 100000 * field: the same parameters and arithmetic as 26
tables, in one gather (as DLRM and TorchRec do). forward(ids [B, 26] int64, num [B, 13])
returns logits [B] (MLR: probabilities, PROB below).

DIN / DIEN (configuration b): user, item and category, a 50-long behaviour history
(items and their categories, padding 0 at the end) over 100,000 items and 1,000
categories, embedding 16 (an item is [item 16, category 16]), attention MLP 80-40
sigmoid, top MLP 200-80 PReLU. DIEN's interest extractor is torch's nn.GRU (its fused
kernel; padded steps only follow the last real one, and every use of their states is
masked, so this matches dmc's masked GRU), its AUGRU a loop over the steps with the
three gates in one matrix product per step.

Initialisation follows dmc (tables normal(0.01), Glorot-uniform weights, zero biases,
logit weights zero); it only matters for the numbers, not for the speed.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from common import dense, table  # noqa: E402  (dmc's initialisation, shared with the peers)

FIELDS, IDS, EMB, NUM = 26, 100000, 16, 13
HIST, ITEMS, CATS, USERS = 50, 100000, 1000, 100000
PROB = {"mlr"}                 # models whose output is a probability, not a logit


def mlp(k, widths, act=nn.ReLU, last_act=False):
    """dmc's stdlib mlp: act after every layer but the last (and after the last if last_act)."""
    layers = []
    for i, n in enumerate(widths):
        layers.append(dense(k, n))
        if i < len(widths) - 1 or last_act:
            layers.append(act(n) if act is nn.PReLU else act())
        k = n
    return nn.Sequential(*layers)


def bi_interaction(e):
    """[B, f, k] -> [B, k]: sum over pairs i < j of v_i * v_j (sum-square identity)."""
    s = e.sum(1)
    return 0.5 * (s * s - (e * e).sum(1))


class Fields(nn.Module):
    """The 26 field tables as one: [B, 26] ids -> [B, 26, dim]."""

    def __init__(self, dim, zeros=False):
        super().__init__()
        self.emb = table(FIELDS * IDS, dim, zeros=zeros)
        self.register_buffer("offsets", torch.arange(FIELDS, dtype=torch.int64) * IDS)

    def forward(self, ids):
        return self.emb(ids + self.offsets)


class First(nn.Module):
    """First order: one weight per id, summed, plus w . num + b."""

    def __init__(self):
        super().__init__()
        self.w = Fields(1, zeros=False)
        self.lin = dense(NUM, 1, zeros=True)

    def forward(self, ids, num):
        return self.w(ids).sum((1, 2)) + self.lin(num)[:, 0]


class LR(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = First()

    def forward(self, ids, num):
        return self.first(ids, num)


class FM(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.v = First(), Fields(EMB)

    def forward(self, ids, num):
        return self.first(ids, num) + bi_interaction(self.v(ids)).sum(1)


class WideDeep(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.v = First(), Fields(EMB)
        self.mlp = mlp(FIELDS * EMB + NUM, [400, 400, 400, 1])

    def forward(self, ids, num):
        x = torch.cat([self.v(ids).flatten(1), num], 1)
        return self.first(ids, num) + self.mlp(x)[:, 0]


class DeepFM(WideDeep):
    def forward(self, ids, num):
        e = self.v(ids)
        x = torch.cat([e.flatten(1), num], 1)
        return self.first(ids, num) + bi_interaction(e).sum(1) + self.mlp(x)[:, 0]


class DCN(nn.Module):
    def __init__(self, layers=3):
        super().__init__()
        d = FIELDS * EMB + NUM
        self.v = Fields(EMB)
        self.w = nn.ParameterList([nn.Parameter(torch.randn(d) * 0.01) for _ in range(layers)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(d)) for _ in range(layers)])
        self.mlp = mlp(d, [400, 400, 400], last_act=True)
        self.out = dense(d + 400, 1, zeros=True)

    def forward(self, ids, num):
        x0 = torch.cat([self.v(ids).flatten(1), num], 1)
        x = x0
        for w, b in zip(self.w, self.b):
            x = x0 * (x @ w).unsqueeze(1) + b + x
        return self.out(torch.cat([x, self.mlp(x0)], 1))[:, 0]


def pair_index():
    i, j = torch.triu_indices(FIELDS, FIELDS, 1)
    return i, j


class PNN(nn.Module):
    """IPNN: the 325 inner products from one batched e e^T, upper triangle."""

    def __init__(self):
        super().__init__()
        self.v = Fields(EMB)
        self.lz = dense(FIELDS * EMB + NUM, 400)
        self.lp = dense(FIELDS * (FIELDS - 1) // 2, 400, bias=False)
        self.mlp = mlp(400, [400, 400, 1])
        i, j = pair_index()
        self.register_buffer("tri", i * FIELDS + j)

    def forward(self, ids, num):
        e = self.v(ids)
        inner = torch.bmm(e, e.transpose(1, 2)).flatten(1)[:, self.tri]
        h = torch.relu(self.lz(torch.cat([e.flatten(1), num], 1)) + self.lp(inner))
        return self.mlp(h)[:, 0]


class NFM(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.v = First(), Fields(EMB)
        self.mlp = mlp(EMB, [400, 400, 400, 1])

    def forward(self, ids, num):
        return self.first(ids, num) + self.mlp(bi_interaction(self.v(ids)))[:, 0]


class AFM(nn.Module):
    def __init__(self, t=16):
        super().__init__()
        self.first, self.v = First(), Fields(EMB)
        self.att = dense(EMB, t)
        self.h = dense(t, 1, bias=False)
        self.p = dense(EMB, 1, bias=False)
        i, j = pair_index()
        self.register_buffer("i", i)
        self.register_buffer("j", j)

    def forward(self, ids, num):
        e = self.v(ids)
        pairs = e[:, self.i] * e[:, self.j]                         # [B, 325, 16]
        a = torch.softmax(self.h(torch.relu(self.att(pairs)))[..., 0], 1)
        pooled = (a.unsqueeze(-1) * pairs).sum(1)
        return self.first(ids, num) + self.p(pooled)[:, 0]


class XDeepFM(WideDeep):
    def __init__(self, sizes=(128, 128)):
        super().__init__()
        hs = [FIELDS] + list(sizes)
        self.cin = nn.ParameterList()
        for h, n in zip(hs[:-1], hs[1:]):
            w = torch.empty(n, h * FIELDS)
            nn.init.xavier_uniform_(w)
            self.cin.append(nn.Parameter(w))
        self.cin_out = dense(sum(sizes), 1, bias=False)

    def forward(self, ids, num):
        e = self.v(ids)                                              # [B, m, D]
        x, pooled = e, []
        for w in self.cin:
            z = (x.unsqueeze(2) * e.unsqueeze(1)).flatten(1, 2)     # [B, h*m, D]
            x = torch.matmul(w, z)                                   # [B, n, D]
            pooled.append(x.sum(2))
        y_cin = self.cin_out(torch.cat(pooled, 1))[:, 0]
        y_dnn = self.mlp(torch.cat([e.flatten(1), num], 1))[:, 0]
        return self.first(ids, num) + y_cin + y_dnn


class MLR(nn.Module):
    def __init__(self, m=12):
        super().__init__()
        self.gate, self.piece = Fields(m), Fields(m)
        self.gate_num, self.piece_num = dense(NUM, m), dense(NUM, m)

    def forward(self, ids, num):
        g = self.gate(ids).sum(1) + self.gate_num(num)
        p = self.piece(ids).sum(1) + self.piece_num(num)
        return (torch.softmax(g, 1) * torch.sigmoid(p)).sum(1)


def din_attention(q, keys, mask, mlp_, out):
    """[B, d], [B, t, d], [B, t] -> [B, t] unnormalised weights, 0 on padding."""
    qs = q.unsqueeze(1).expand_as(keys)
    z = torch.cat([qs, keys, qs - keys, qs * keys], -1)
    return out(mlp_(z))[..., 0] * mask


class Behaviours(nn.Module):
    """Item and category tables; [item, cat] pairs -> [.., 32]."""

    def __init__(self):
        super().__init__()
        self.items, self.cats, self.users = table(ITEMS, EMB), table(CATS, EMB), table(USERS, EMB)

    def forward(self, item, cat):
        return torch.cat([self.items(item), self.cats(cat)], -1)


class DIN(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = Behaviours()
        self.att = mlp(8 * EMB, [80, 40], act=nn.Sigmoid, last_act=True)
        self.att_out = dense(40, 1)
        self.top = mlp(EMB + 6 * EMB, [200, 80, 1], act=nn.PReLU)   # PReLU slopes start at 0.25

    def forward(self, user, item, cat, hist, hcat):
        q, keys = self.b(item, cat), self.b(hist, hcat)
        mask = (hist != 0).to(q.dtype)
        w = din_attention(q, keys, mask, self.att, self.att_out)
        interest = (w.unsqueeze(-1) * keys).sum(1)
        x = torch.cat([self.b.users(user), q, interest, q * interest], 1)
        return self.top(x)[:, 0]


class DIEN(DIN):
    def __init__(self):
        super().__init__()
        d = 2 * EMB
        self.gru = nn.GRU(d, d, batch_first=True)
        self.augru_x = dense(d, 3 * d)
        self.augru_h = nn.Parameter(torch.empty(d, 3 * d))
        nn.init.xavier_uniform_(self.augru_h)

    def interest(self, user, item, cat, hist, hcat):
        q, e = self.b(item, cat), self.b(hist, hcat)
        m = (hist != 0).to(q.dtype)
        hs, _ = self.gru(e)                                          # [B, t, d]
        qs = q.unsqueeze(1).expand_as(hs)
        s = self.att_out(self.att(torch.cat([qs, hs, qs - hs, qs * hs], -1)))[..., 0]
        ex = torch.exp(s - s.max(1, keepdim=True).values.detach()) * m
        a = ex / (ex.sum(1, keepdim=True) + 1e-9)
        gx = self.augru_x(hs)                                        # [B, t, 3d]
        n = e.shape[2]
        h = torch.zeros_like(q)
        for t in range(e.shape[1]):
            gh = h @ self.augru_h
            u = a[:, t:t + 1] * torch.sigmoid(gx[:, t, :n] + gh[:, :n])
            r = torch.sigmoid(gx[:, t, n:2 * n] + gh[:, n:2 * n])
            c = torch.tanh(gx[:, t, 2 * n:] + r * gh[:, 2 * n:])
            mt = m[:, t:t + 1]
            h = mt * ((1 - u) * h + u * c) + (1 - mt) * h
        x = torch.cat([self.b.users(user), q, h, q * h], 1)
        return self.top(x)[:, 0], hs, e, m

    def forward(self, user, item, cat, hist, hcat):
        return self.interest(user, item, cat, hist, hcat)[0]

    def train_loss(self, y, user, item, cat, hist, hcat, nhist, nhcat):
        logit, hs, e, m = self.interest(user, item, cat, hist, hcat)
        en = self.b(nhist, nhcat)
        h0, ma = hs[:, :-1], m[:, 1:]
        pos, ngs = (h0 * e[:, 1:]).sum(2), (h0 * en[:, 1:]).sum(2)
        aux = -(ma * (F.logsigmoid(pos) + F.logsigmoid(-ngs))).sum(1) / (ma.sum(1) + 1e-6)
        return F.binary_cross_entropy_with_logits(logit, y) + aux.mean()


MODELS = {"criteo_lr": LR, "criteo_fm": FM, "criteo_wide_deep": WideDeep, "criteo_deepfm": DeepFM,
          "criteo_dcn": DCN, "criteo_pnn": PNN, "criteo_nfm": NFM, "criteo_afm": AFM,
          "criteo_xdeepfm": XDeepFM, "criteo_mlr": MLR, "din": DIN, "dien": DIEN}
