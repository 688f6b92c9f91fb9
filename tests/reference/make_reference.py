#!/usr/bin/python3
"""make_reference.py: reference tensors for dmc from an independent PyTorch model.

    /usr/bin/python3 make_reference.py MODEL CASE.safetensors OUT.ref.safetensors

MODEL is one of lr, fm, deepfm, din (the small models in this directory).
CASE is the file dump_case writes: `input.<name>` and `param.<name>` tensors and
the batch size in the metadata. This script builds the model in PyTorch from its
own code (torch.nn modules written here from the papers and from the meaning of
the .model file; it does not read the .model file, the IR or dmc's kernels), loads
every dmc parameter into its torch tensor through an explicit name map, runs the
forward pass and backward of the batch MEAN of the per-example loss in float64,
and writes OUT with

    input.<name>, param.<name>   copied from CASE
    ref.output.<name>            [B, size] each model output
    ref.loss                     [B] per-example loss
    ref.grad.<param>             d(mean loss)/d(param), every parameter; tables as
                                 full dense gradients (rows that were not looked up
                                 are 0)

All tensors are F32 (runtime/checkpoint.c reads F32 only); the values are computed
in float64 and rounded once on writing. No "dmc.checksum" or "dmc.data_checksums"
is written (they are XXH3, not in the Python standard library); the reader accepts
files without them. "dmc.format" is the case file's (the checkpoint format this dmc
reads).

Semantics followed (docs/LANGUAGE.md and stdlib/*.model):
  - ids: 0 is padding; a list feature gives a masked sequence; sum/mean over the
    sequence axis skip padded steps (mean divides by the number of real steps);
    a padded step still looks up table row 0, which only matters where a value
    of that step is used unmasked (Dice's batch statistics in DIN's attention)
  - dense(x, n): x @ W + b with W[k, n] (dmc layout; torch's Linear.weight is W^T)
  - mlp(x, hidden, act, last_act=identity): act after every layer but the last,
    last_act after the last
  - dice(x) = p * x + (1 - p) * alpha * x, p = sigmoid(standardize(x)), where
    standardize normalises EACH ELEMENT over the batch axis with the batch mean
    and biased variance, eps 1e-5, padded steps included (LANGUAGE.md section 15)
  - din_attention(q, keys, hidden=[h], act=dice): concat(q, k, q - k, q * k) ->
    dense h -> dice -> dense 1, times the mask; not softmax-normalised
  - fm(e) = sum over field pairs i < j of <e_i, e_j>, computed here as the
    explicit double loop, not the sum-square identity
  - bce(p, y) = -(y log p + (1 - y) log(1 - p)) with p clamped to [1e-7, 1 - 1e-7]
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------- safetensors

def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (hlen,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = buf[8 + hlen:]
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} has dtype {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(t["shape"])
        tensors[name] = arr.copy()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs, off = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for raw in blobs:
            f.write(raw)


# ---------------------------------------------------------------- building blocks

def masked_sum(x, m):
    """x [B, T, D], m [B, T] 0/1 -> [B, D], padded steps skipped."""
    return (x * m.unsqueeze(-1)).sum(dim=1)


def masked_mean(x, m):
    """mean over the real steps; a row with no real step gives 0."""
    count = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    return masked_sum(x, m) / count


def fm_pairs(e):
    """e [B, F, K] -> [B]: sum over i < j of <e_i, e_j>."""
    f = e.shape[1]
    out = torch.zeros(e.shape[0], dtype=e.dtype)
    for i in range(f):
        for j in range(i + 1, f):
            out = out + (e[:, i, :] * e[:, j, :]).sum(dim=-1)
    return out


class Dice(nn.Module):
    """DIN's Dice with dmc's statistics: each element standardised over the batch."""

    def __init__(self, k):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(k))

    def forward(self, x):
        mean = x.mean(dim=0, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=0, keepdim=True)  # biased, as batch norm
        p = torch.sigmoid((x - mean) / torch.sqrt(var + 1e-5))
        return p * x + (1 - p) * self.alpha * x


def emb(rows, dim):
    return nn.Embedding(rows, dim)  # dense gradients (sparse=False)


def lin(k, n):
    return nn.Linear(k, n)


def bce(p, y):
    q = p.clamp(1e-7, 1 - 1e-7)
    return -(y * torch.log(q) + (1 - y) * torch.log(1 - q))


# Each model: `ids`, `floats` and `label` name its inputs; __init__ creates the
# modules; names() maps every dmc parameter name to (torch parameter, stored
# transposed in torch?); forward(inp) takes the input dict (ids as int64, floats as
# float64, all [B, E]) and returns ({output name: [B, size]}, p for bce).

class LR(nn.Module):
    """McMahan et al. 2013: p = sigmoid(sum of one weight per active id + w.x + b)."""

    label = "clicked"
    ids = ("user", "item", "year", "genres", "ugenres", "hist")
    floats = ("counts", "mstats", "ustats")

    def __init__(self):
        super().__init__()
        self.w_user, self.w_item, self.w_year = emb(20, 1), emb(30, 1), emb(10, 1)
        self.w_genres, self.w_ugenres, self.w_hist = emb(16, 1), emb(16, 1), emb(30, 1)
        self.dense = lin(8, 1)

    def names(self):
        return {
            "user_emb": (self.w_user.weight, False),
            "item_emb": (self.w_item.weight, False),
            "year_emb": (self.w_year.weight, False),
            "genres_emb": (self.w_genres.weight, False),
            "ugenres_emb": (self.w_ugenres.weight, False),
            "hist_emb": (self.w_hist.weight, False),
            "logit_0/dense_0/w": (self.dense.weight, True),
            "logit_0/dense_0/b": (self.dense.bias, False),
        }

    def forward(self, x):
        def one(table, ids):       # single id [B, 1] -> [B]
            return table(ids[:, 0])[:, 0]

        def many(table, ids):      # list [B, T] -> [B], padding skipped
            return (table(ids)[:, :, 0] * (ids != 0)).sum(dim=1)

        z = (one(self.w_user, x["user"]) + one(self.w_item, x["item"]) + one(self.w_year, x["year"])
             + many(self.w_genres, x["genres"]) + many(self.w_ugenres, x["ugenres"])
             + many(self.w_hist, x["hist"])
             + self.dense(torch.cat([x["counts"], x["mstats"], x["ustats"]], dim=1))[:, 0])
        p = torch.sigmoid(z)
        return {"p": p.unsqueeze(1)}, p


class FM(nn.Module):
    """Rendle 2010, field level: w0 + sum w_i + sum_{i<j} <v_i, v_j> over 6 fields;
    a list field's vector is the sum of its ids' vectors, its first-order term the
    sum of their weights. Movie tables are shared by item and hist, genre tables by
    genres and ugenres."""

    label = "clicked"
    ids = ("user", "item", "year", "genres", "ugenres", "hist")
    floats = ("stats",)

    def __init__(self, k=4):
        super().__init__()
        self.user_w, self.user_v = emb(20, 1), emb(20, k)
        self.item_w, self.item_v = emb(30, 1), emb(30, k)
        self.year_w, self.year_v = emb(10, 1), emb(10, k)
        self.genre_w, self.genre_v = emb(16, 1), emb(16, k)
        self.dense = lin(4, 1)

    def names(self):
        return {
            "user_w": (self.user_w.weight, False), "user_v": (self.user_v.weight, False),
            "item_w": (self.item_w.weight, False), "item_v": (self.item_v.weight, False),
            "year_w": (self.year_w.weight, False), "year_v": (self.year_v.weight, False),
            "genre_w": (self.genre_w.weight, False), "genre_v": (self.genre_v.weight, False),
            "logit_0/dense_0/w": (self.dense.weight, True),
            "logit_0/dense_0/b": (self.dense.bias, False),
        }

    def forward(self, x):
        m = {k: (x[k] != 0).to(torch.float64) for k in ("genres", "ugenres", "hist")}
        first = (self.user_w(x["user"][:, 0])[:, 0] + self.item_w(x["item"][:, 0])[:, 0]
                 + self.year_w(x["year"][:, 0])[:, 0]
                 + masked_sum(self.genre_w(x["genres"]), m["genres"])[:, 0]
                 + masked_sum(self.genre_w(x["ugenres"]), m["ugenres"])[:, 0]
                 + masked_sum(self.item_w(x["hist"]), m["hist"])[:, 0]
                 + self.dense(x["stats"])[:, 0])
        e = torch.stack([self.user_v(x["user"][:, 0]), self.item_v(x["item"][:, 0]),
                         self.year_v(x["year"][:, 0]),
                         masked_sum(self.genre_v(x["genres"]), m["genres"]),
                         masked_sum(self.genre_v(x["ugenres"]), m["ugenres"]),
                         masked_sum(self.item_v(x["hist"]), m["hist"])], dim=1)   # [B, 6, k]
        p = torch.sigmoid(first + fm_pairs(e))
        return {"p": p.unsqueeze(1)}, p


class DeepFM(nn.Module):
    """Guo et al. 2017: shared field embeddings feed an FM part (with first-order
    weights) and an MLP [8, 8, 1] (relu, last layer linear) on
    concat(flattened embeddings, stats); p = sigmoid(y_fm + y_dnn). List fields are
    mean-pooled over their real ids; item and hist share the `items` table for the
    embeddings (their first-order weights are separate tables, as in the .model)."""

    label = "clicked"
    ids = ("user", "item", "year", "genres", "ugenres", "hist")
    floats = ("stats",)

    def __init__(self, k=4):
        super().__init__()
        self.items = emb(30, k)
        self.user_v, self.year_v = emb(20, k), emb(10, k)
        self.genres_v, self.ugenres_v = emb(16, k), emb(16, k)
        self.user_w, self.item_w, self.year_w = emb(20, 1), emb(30, 1), emb(10, 1)
        self.genres_w, self.ugenres_w, self.hist_w = emb(16, 1), emb(16, 1), emb(30, 1)
        self.linear = lin(4, 1)
        self.fc0, self.fc1, self.fc2 = lin(6 * k + 4, 8), lin(8, 8), lin(8, 1)

    def names(self):
        return {
            "items": (self.items.weight, False),
            "user_emb": (self.user_v.weight, False),
            "year_emb": (self.year_v.weight, False),
            "genres_emb": (self.genres_v.weight, False),
            "ugenres_emb": (self.ugenres_v.weight, False),
            "user_emb_1": (self.user_w.weight, False),
            "item_emb": (self.item_w.weight, False),
            "year_emb_1": (self.year_w.weight, False),
            "genres_emb_1": (self.genres_w.weight, False),
            "ugenres_emb_1": (self.ugenres_w.weight, False),
            "hist_emb": (self.hist_w.weight, False),
            "logit_0/dense_0/w": (self.linear.weight, True),
            "logit_0/dense_0/b": (self.linear.bias, False),
            "mlp_0/dense_0/w": (self.fc0.weight, True), "mlp_0/dense_0/b": (self.fc0.bias, False),
            "mlp_0/dense_1/w": (self.fc1.weight, True), "mlp_0/dense_1/b": (self.fc1.bias, False),
            "mlp_0/dense_2/w": (self.fc2.weight, True), "mlp_0/dense_2/b": (self.fc2.bias, False),
        }

    def forward(self, x):
        m = {k: (x[k] != 0).to(torch.float64) for k in ("genres", "ugenres", "hist")}
        e = torch.stack([self.user_v(x["user"][:, 0]), self.items(x["item"][:, 0]),
                         self.year_v(x["year"][:, 0]),
                         masked_mean(self.genres_v(x["genres"]), m["genres"]),
                         masked_mean(self.ugenres_v(x["ugenres"]), m["ugenres"]),
                         masked_mean(self.items(x["hist"]), m["hist"])], dim=1)   # [B, 6, k]
        first = (self.user_w(x["user"][:, 0])[:, 0] + self.item_w(x["item"][:, 0])[:, 0]
                 + self.year_w(x["year"][:, 0])[:, 0]
                 + masked_sum(self.genres_w(x["genres"]), m["genres"])[:, 0]
                 + masked_sum(self.ugenres_w(x["ugenres"]), m["ugenres"])[:, 0]
                 + masked_sum(self.hist_w(x["hist"]), m["hist"])[:, 0]
                 + self.linear(x["stats"])[:, 0])
        y_fm = first + fm_pairs(e)
        h = torch.cat([e.reshape(e.shape[0], -1), x["stats"]], dim=1)
        h = torch.relu(self.fc0(h))
        h = torch.relu(self.fc1(h))
        y_dnn = self.fc2(h)[:, 0]
        p = torch.sigmoid(y_fm + y_dnn)
        return {"p": p.unsqueeze(1)}, p


class DIN(nn.Module):
    """Zhou et al. 2018: a local activation unit scores each behaviour k against the
    candidate q from concat(q, k, q - k, q * k) (dense 6, Dice, dense 1), zero on
    padded behaviours, not softmax-normalised; the user interest is the weighted sum
    of behaviour embeddings. Candidate and behaviours share the item table. Top:
    concat(user, q, interest, mean genres, counts, means) -> dense 8, Dice ->
    dense 6, Dice -> dense 1 -> sigmoid."""

    label = "click"
    ids = ("user", "item", "recent", "genres")
    floats = ("counts", "means")

    def __init__(self, d=4):
        super().__init__()
        self.items = emb(30, d)
        self.att_fc, self.att_dice, self.att_out = lin(4 * d, 6), Dice(6), lin(6, 1)
        self.user = emb(20, d)
        self.genres = emb(16, d)
        self.fc0, self.dice0 = lin(4 * d + 4, 8), Dice(8)
        self.fc1, self.dice1 = lin(8, 6), Dice(6)
        self.fc2 = lin(6, 1)

    def names(self):
        return {
            "items": (self.items.weight, False),
            "din_attention_0/mlp_0/dense_0/w": (self.att_fc.weight, True),
            "din_attention_0/mlp_0/dense_0/b": (self.att_fc.bias, False),
            "din_attention_0/mlp_0/dice_0/param_0": (self.att_dice.alpha, False),
            "din_attention_0/dense_0/w": (self.att_out.weight, True),
            "din_attention_0/dense_0/b": (self.att_out.bias, False),
            "user_emb": (self.user.weight, False),
            "genres_emb": (self.genres.weight, False),
            "mlp_0/dense_0/w": (self.fc0.weight, True), "mlp_0/dense_0/b": (self.fc0.bias, False),
            "mlp_0/dice_0/param_0": (self.dice0.alpha, False),
            "mlp_0/dense_1/w": (self.fc1.weight, True), "mlp_0/dense_1/b": (self.fc1.bias, False),
            "mlp_0/dice_1/param_0": (self.dice1.alpha, False),
            "mlp_0/dense_2/w": (self.fc2.weight, True), "mlp_0/dense_2/b": (self.fc2.bias, False),
        }

    def forward(self, x):
        q = self.items(x["item"][:, 0])                        # [B, d]
        keys = self.items(x["recent"])                         # [B, T, d] (padding: row 0)
        m = (x["recent"] != 0).to(torch.float64)               # [B, T]
        qs = q.unsqueeze(1).expand_as(keys)
        z = torch.cat([qs, keys, qs - keys, qs * keys], dim=-1)   # [B, T, 4d]
        a = self.att_out(self.att_dice(self.att_fc(z)))[:, :, 0] * m   # [B, T]
        interest = masked_sum(a.unsqueeze(-1) * keys, m)        # [B, d]
        gm = (x["genres"] != 0).to(torch.float64)
        h = torch.cat([self.user(x["user"][:, 0]), q, interest,
                       masked_mean(self.genres(x["genres"]), gm), x["counts"], x["means"]], dim=1)
        h = self.dice0(self.fc0(h))
        h = self.dice1(self.fc1(h))
        p = torch.sigmoid(self.fc2(h)[:, 0])
        return {"p": p.unsqueeze(1)}, p


MODELS = {"lr": LR, "fm": FM, "deepfm": DeepFM, "din": DIN}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in MODELS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(MODELS)}}} CASE.safetensors OUT.ref.safetensors")
    name, case_path, out_path = sys.argv[1:]
    case, meta = read_safetensors(case_path)
    if meta.get("model") != name:
        raise SystemExit(f"{case_path}: written for model {meta.get('model')!r}, not {name!r}")
    B = int(meta["batch"])

    model = MODELS[name]()
    pmap = model.names()
    # every module parameter is named exactly once, and the names are exactly dmc's
    assert len({id(t) for t, _ in pmap.values()}) == len(pmap) == len(list(model.parameters())), \
        "the name map does not cover every torch parameter exactly once"
    # running statistics (standardize) are not trained: they have no torch parameter
    have = {k[len("param."):] for k in case if k.startswith("param.") and "/running_" not in k}
    if have != set(pmap):
        raise SystemExit(f"{case_path}: dmc parameters {sorted(have - set(pmap))} have no torch "
                         f"counterpart; torch parameters {sorted(set(pmap) - have)} are not in dmc")
    with torch.no_grad():
        for pname, (t, transposed) in pmap.items():
            v = torch.from_numpy(case["param." + pname].astype(np.float64))
            if transposed:
                v = v.t()
            if tuple(v.shape) != tuple(t.shape):
                raise SystemExit(f"param {pname}: dmc shape {list(case['param.' + pname].shape)} does not "
                                 f"fit torch shape {list(t.shape)}{' (transposed)' if transposed else ''}")
            t.copy_(v)

    inp = {}
    want = set(model.ids) | set(model.floats) | {model.label}
    have = {k[len("input."):] for k in case if k.startswith("input.")}
    if have != want:
        raise SystemExit(f"{case_path}: inputs {sorted(have)}, the torch model takes {sorted(want)}")
    for n in sorted(want):
        a = case["input." + n].astype(np.float64)
        if a.shape[0] != B:
            raise SystemExit(f"input.{n}: {a.shape[0]} rows, batch is {B}")
        if n in model.ids:
            if not np.all(a == np.round(a)) or a.min() < 0:
                raise SystemExit(f"input.{n}: ids must be integers >= 0")
            inp[n] = torch.from_numpy(a.astype(np.int64))
        else:
            inp[n] = torch.from_numpy(a)
    outputs, p = model(inp)
    y = inp[model.label][:, 0]
    loss = bce(p, y)                      # [B] per example
    model.zero_grad()
    loss.mean().backward()                # dmc: d(mean over the batch)/d(params)

    out = {k: v for k, v in case.items()}
    for oname, v in outputs.items():
        out["ref.output." + oname] = v.detach().numpy()
    out["ref.loss"] = loss.detach().numpy()
    for pname, (t, transposed) in pmap.items():
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        out["ref.grad." + pname] = (g.t() if transposed else g).detach().numpy()
    meta = dict(meta)
    meta.pop("dmc.checksum", None)        # the data changes; see the docstring
    meta.pop("dmc.data_checksums", None)
    meta["reference"] = f"tests/reference/make_reference.py, torch {torch.__version__}, float64"
    write_safetensors(out_path, out, meta)
    print(f"{out_path}: {name}, batch {B}, loss mean {loss.mean().item():.6f}, "
          f"{len(pmap)} parameter gradients")


if __name__ == "__main__":
    main()
