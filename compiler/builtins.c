// builtins.c: the functions every model can call. Each builtin gets its
// arguments already bound by name (sema.c: call_builtin) and lowers into graph
// primitives of ops.def; composite layers (mlp, fm, attention, gru...) are not
// here but in stdlib/, written in the language itself.
#include "sema.h"

#include <math.h>
#include <string.h>

// ---- argument helpers ----

static Value *arg_tensor(Ctx *c, Args *a, int i) { return to_tensor(c, a->v[i], a->loc[i]); }

static bool arg_int(Ctx *c, Args *a, int i, int lo, int *out) {
  Value *v = a->v[i];
  if (!v) return false;
  if (v->kind != V_INT || v->num < lo || v->num > 1e9) {
    sema_error(c, a->loc[i], "'%s' must be an integer%s, got %s", a->names[i], lo > 0 ? " >= 1" : "",
               v->kind == V_INT ? arena_printf("%.17g", v->num) : val_kind_name(v));
    return false;
  }
  *out = (int)v->num;
  return true;
}

static Feature *arg_feature(Ctx *c, Args *a, int i, bool ids) {
  Value *v = a->v[i];
  if (!v) return NULL;
  if (v->kind != V_FEATURE) {
    sema_error(c, a->loc[i], "'%s' must be a feature, got %s", a->names[i], val_kind_name(v));
    return NULL;
  }
  bool has_ids = v->f->kind != FK_FLOAT && v->f->kind != FK_LABEL;
  if (ids && !has_ids) {
    sema_error(c, a->loc[i], "feature '%s' holds numbers, not ids", v->f->name);
    diag_hint("only id, hash, weighted, cross and negative features have ids to look up");
    return NULL;
  }
  return v->f;
}

// Normalises a possibly negative axis of a rank-r tensor; reports out of range.
static bool norm_axis(Ctx *c, Loc loc, int axis, int rank, int *out) {
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    sema_error(c, loc, "axis %d is out of range for a tensor of rank %d", axis, rank);
    return false;
  }
  *out = a;
  return true;
}

static bool arg_axis(Ctx *c, Args *a, int i, int rank, int dflt, int *out) {
  if (!a->given[i]) {
    *out = dflt;
    return true;
  }
  Value *v = a->v[i];
  if (!v) return false;
  if (v->kind != V_INT) {
    sema_error(c, a->loc[i], "an axis must be an integer, got %s", val_kind_name(v));
    return false;
  }
  return norm_axis(c, a->loc[i], (int)v->num, rank, out);
}

static bool arg_bool(Ctx *c, Args *a, int i, bool dflt, bool *out) {
  *out = dflt;
  if (!a->given[i]) return true;
  if (!a->v[i] || a->v[i]->kind != V_BOOL) {
    sema_error(c, a->loc[i], "%s must be true or false", a->names[i]);
    return false;
  }
  *out = a->v[i]->num != 0;
  return true;
}

static Value *name_arg(Args *a, const char *name) {
  for (int i = 0; i < a->n; i++)
    if (a->given[i] && !strcmp(a->names[i], name)) {
      if (a->v[i] && a->v[i]->kind == V_STR) return a->v[i];
    }
  return NULL;
}

static bool check_name_arg(Ctx *c, Args *a, int i) {
  if (a->given[i] && a->v[i] && a->v[i]->kind != V_STR) {
    sema_error(c, a->loc[i], "name must be a string, got %s", val_kind_name(a->v[i]));
    return false;
  }
  return true;
}

static IrNode *reshape(Ctx *c, IrNode *x, Shape s, Loc loc) {
  IrNode attrs = {0};
  attrs.shape = s;
  return emit(c, OP_RESHAPE, &x, 1, &attrs, loc);
}

// ---- elementwise ----

static Value *bi_unary(Ctx *c, Args *a, const Builtin *b) {
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  if (b->op == OP_INPUT) return x;   // identity
  if (b->op == OP_MUL) {             // square
    IrNode *in[2] = {x->t, x->t};
    return val_tensor(emit(c, OP_MUL, in, 2, NULL, a->call->loc), x->mask);
  }
  return val_tensor(emit(c, b->op, &x->t, 1, NULL, a->call->loc), x->mask);
}

static Value *bi_dropout(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0), *r = a->v[1];
  if (!x || !r) return NULL;
  if ((r->kind != V_FLOAT && r->kind != V_INT) || r->num < 0 || r->num >= 1) {
    sema_error(c, a->loc[1], "a dropout rate is a number in [0, 1)");
    return NULL;
  }
  IrNode attrs = {0};
  attrs.fval = r->num;
  attrs.start = ++c->g->ndropout;   // each dropout draws its own mask
  IrNode *m = emit(c, OP_DROPMASK, &x->t, 1, &attrs, a->call->loc);   // the mask is what backward reuses
  IrNode *in[2] = {x->t, m};
  return m ? val_tensor(emit(c, OP_MUL, in, 2, NULL, a->call->loc), x->mask) : NULL;
}

// ---- reductions ----

static Value *reduce(Ctx *c, Op op, Value *x, int axis, Loc loc) {
  IrNode attrs = {0};
  if (axis == AXIS_ALL) {
    if (x->mask) {   // exact for sum and max; mean: every step has equally many elements
      Value *first = reduce(c, op, x, 0, loc);
      if (!first) return NULL;
      if (first->t->shape.rank == 0) return first;
      x = first;
    }
    attrs.axis = AXIS_ALL;
    return val_tensor(emit(c, op, &x->t, 1, &attrs, loc), NULL);
  }
  attrs.axis = axis;
  IrNode *in[2] = {x->t, x->mask};
  bool masked = axis == 0 && x->mask;
  IrNode *r = emit(c, op, in, masked ? 2 : 1, &attrs, loc);
  return val_tensor(r, axis == 0 ? NULL : x->mask);
}

static Value *bi_reduce(Ctx *c, Args *a, const Builtin *b) {
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  int axis;
  if (!arg_axis(c, a, 1, x->t->shape.rank, AXIS_ALL, &axis)) return NULL;
  return reduce(c, b->op, x, axis, a->call->loc);
}

// max(x, axis=A) reduces; max(a, b) with two tensors is elementwise.
static Value *bi_minmax(Ctx *c, Args *a, const Builtin *b) {
  Value *y = a->v[1];
  bool elementwise = a->given[1] && y && y->kind != V_INT;
  if (!elementwise) {
    if (b->op == OP_MIN) {
      sema_error(c, a->call->loc, "min takes two tensors (elementwise)");
      return NULL;
    }
    Value *x = arg_tensor(c, a, 0);
    if (!x) return NULL;
    int axis;
    int slot = a->given[1] ? 1 : 2;
    if (!arg_axis(c, a, slot, x->t->shape.rank, AXIS_ALL, &axis)) return NULL;
    return reduce(c, OP_RMAX, x, axis, a->call->loc);
  }
  Value *x = arg_tensor(c, a, 0), *z = arg_tensor(c, a, 1);
  if (!x || !z) return NULL;
  IrNode *in[2] = {x->t, z->t};
  IrNode *r = emit(c, b->op, in, 2, NULL, a->call->loc);
  return val_tensor(r, x->mask && x->t->shape.rank == (r ? r->shape.rank : -1) ? x->mask : NULL);
}

static Value *bi_softmax(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  int axis;
  if (!arg_axis(c, a, 1, x->t->shape.rank, x->t->shape.rank - 1, &axis)) return NULL;
  if (x->t->shape.rank == 0) {
    sema_error(c, a->call->loc, "softmax of a scalar");
    return NULL;
  }
  IrNode attrs = {0};
  attrs.axis = axis;
  IrNode *in[2] = {x->t, x->mask};
  bool masked = axis == 0 && x->mask;
  if (a->given[2]) {   // mask=m: a 0/1 step mask given explicitly (a computed sequence has none)
    Value *m = arg_tensor(c, a, 2);
    if (!m) return NULL;
    Shape ms = m->t->shape, xs = x->t->shape;
    if (axis != 0) {
      sema_error(c, a->loc[2], "softmax's mask= applies along axis 0, not axis %d", axis);
      diag_hint("a mask marks the steps of the first axis; take the softmax over axis=0");
      return NULL;
    }
    if (m->t->dt != DT_F32 || !m->t->batched || ms.rank != 1 || ms.dim[0] != xs.dim[0]) {
      sema_error(c, a->loc[2], "softmax's mask= must be one 0/1 value per step of %s, got %s%s", shape_str(xs),
                 shape_str(ms), m->t->batched ? "" : " without the batch axis");
      diag_hint("mask(x) of a list feature's embedding gives it: softmax(s, axis=0, mask=mask(keys))");
      return NULL;
    }
    in[1] = m->t;
    masked = true;
  }
  return val_tensor(emit(c, OP_SOFTMAX, in, masked ? 2 : 1, &attrs, a->call->loc), x->mask);
}

static Value *bi_standardize(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  // running mean and variance: what inference uses instead of the batch's statistics
  const char *saved = c->prefix;
  c->prefix = layer_prefix(c, "standardize", NULL);
  static Record zeros = {"zeros", 0, {0}, {0}, {0}, {0}}, ones = {"ones", 0, {0}, {0}, {0}, {0}};
  IrNode *mean = get_param(c, arena_printf("%s/running_mean", c->prefix), x->t->shape, &zeros, false, a->call->loc);
  IrNode *var = get_param(c, arena_printf("%s/running_var", c->prefix), x->t->shape, &ones, false, a->call->loc);
  IrNode *r = NULL;
  if (mean && var) {
    ((Param *)mean->ref)->is_stat = ((Param *)var->ref)->is_stat = true;
    IrNode *in[3] = {x->t, mean, var};
    r = emit(c, OP_STANDARDIZE, in, 3, NULL, a->call->loc);
  }
  c->prefix = saved;
  return val_tensor(r, x->mask);
}

// ---- shape moves ----

static bool tensor_list(Ctx *c, Args *a, int i, IrNode **out, Value **vals, int *n) {
  Value *l = a->v[i];
  if (l->list.len == 1 && ((Value *)l->list.items[0])->kind == V_LIST) l = l->list.items[0];   // concat([a, b])
  if (l->list.len == 0) {
    sema_error(c, a->call->loc, "'%s' needs at least one tensor", a->call->name);
    return false;
  }
  if (l->list.len > 64) {   // (longer than 4 is fine: bi_concat chains concat nodes)
    sema_error(c, a->call->loc, "'%s' takes at most 64 tensors", a->call->name);
    return false;
  }
  for (int k = 0; k < l->list.len; k++) {
    vals[k] = to_tensor(c, l->list.items[k], a->loc[i]);
    if (!vals[k]) return false;
    out[k] = vals[k]->t;
  }
  *n = l->list.len;
  return true;
}

static Value *bi_concat(Ctx *c, Args *a, const Builtin *b) {
  IrNode *in[64];
  Value *vals[64];
  int n;
  if (!tensor_list(c, a, 0, in, vals, &n)) return NULL;
  int axis;
  bool stack = b->op == OP_EXPAND;
  int rank = in[0]->shape.rank + (stack ? 1 : 0);
  if (rank == 0) {
    sema_error(c, a->loc[0], "cannot concatenate scalars; stack them instead");
    return NULL;
  }
  if (!arg_axis(c, a, 1, rank, stack ? 0 : rank - 1, &axis)) return NULL;
  if (stack)
    for (int k = 0; k < n; k++) {
      Shape s = in[k]->shape;
      if (s.rank >= MAX_RANK) {
        sema_error(c, a->loc[0], "too many dimensions to stack");
        return NULL;
      }
      Shape r = {s.rank + 1, {0}};
      for (int d = 0, j = 0; d < r.rank; d++) r.dim[d] = d == axis ? 1 : s.dim[j++];
      if (!(in[k] = reshape(c, in[k], r, a->call->loc))) return NULL;
    }
  IrNode *mask = NULL;
  if (axis != 0)
    for (int k = 0; k < n && !mask; k++) mask = vals[k]->mask;
  // concat takes up to 4 operands per node; longer lists chain
  IrNode attrs = {0};
  attrs.axis = axis;
  IrNode *acc = NULL;
  for (int k = 0; k < n;) {
    IrNode *ops[4];
    int m = 0;
    if (acc) ops[m++] = acc;
    while (m < 4 && k < n) ops[m++] = in[k++];
    acc = m == 1 ? ops[0] : emit(c, OP_CONCAT, ops, m, &attrs, a->call->loc);
    if (!acc) return NULL;
  }
  return val_tensor(acc, mask);
}

static Value *bi_reshape(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0), *l = a->v[1];
  if (!x || !l) return NULL;
  if (l->kind != V_LIST || l->list.len > MAX_RANK) {
    sema_error(c, a->loc[1], "a shape is a list of up to %d integers, e.g. [5, 10]", MAX_RANK);
    return NULL;
  }
  Shape s = {l->list.len, {0}};
  for (int i = 0; i < s.rank; i++) {
    Value *d = l->list.items[i];
    if (d->kind != V_INT || d->num < 1) {
      sema_error(c, a->loc[1], "a shape is a list of positive integers");
      return NULL;
    }
    s.dim[i] = (int)d->num;
  }
  return val_tensor(reshape(c, x->t, s, a->call->loc), NULL);
}

static Value *bi_triu(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  return val_tensor(emit(c, OP_TRIU, &x->t, 1, NULL, a->call->loc), x->t->shape.rank > 2 ? x->mask : NULL);
}

static Value *bi_pairs(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  return val_tensor(emit(c, OP_PAIRS, &x->t, 1, NULL, a->call->loc), NULL);
}

static Value *bi_transpose(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  if (!x) return NULL;
  return val_tensor(emit(c, OP_TRANSPOSE, &x->t, 1, NULL, a->call->loc), x->t->shape.rank > 2 ? x->mask : NULL);
}

static Value *bi_slice(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  int axis, start, len;
  if (!x || !arg_axis(c, a, 1, x->t->shape.rank, 0, &axis) || !arg_int(c, a, 2, 0, &start) ||
      !arg_int(c, a, 3, 1, &len))
    return NULL;
  IrNode attrs = {0};
  attrs.axis = axis;
  attrs.start = start;
  attrs.len = len;
  return val_tensor(emit(c, OP_SLICE, &x->t, 1, &attrs, a->call->loc), axis ? x->mask : NULL);
}

static Value *bi_expand(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  int axis, n;
  if (!x || !arg_axis(c, a, 1, x->t->shape.rank + 1, 0, &axis) || !arg_int(c, a, 2, 1, &n)) return NULL;
  IrNode attrs = {0};
  attrs.axis = axis;
  attrs.len = n;
  return val_tensor(emit(c, OP_EXPAND, &x->t, 1, &attrs, a->call->loc), axis ? x->mask : NULL);
}

// ---- layers that own parameters ----

static Feature *vocab_find(Feature *f) {
  while (f->vocab_of && f->vocab_of != f) f = f->vocab_of;
  return f;
}

// Features looked up in one declared table must number their ids the same way:
// they share one vocabulary (built by the runtime over all their columns).
static bool share_vocabulary(Ctx *c, Feature *f, Param *table, Loc loc) {
  if (f->kind != FK_ID && f->kind != FK_WEIGHTED && f->kind != FK_NEGATIVE) return true;
  if (!table->vocab_owner) {
    table->vocab_owner = f;
    return true;
  }
  Feature *ra = vocab_find(f), *rb = vocab_find(table->vocab_owner);
  if (ra == rb) return true;
  if (ra->vocab != rb->vocab) {
    sema_error(c, loc, "'%s' (vocab %lld) and '%s' (vocab %lld) share table '%s', so they share one vocabulary",
               f->name, (long long)ra->vocab, table->vocab_owner->name, (long long)rb->vocab, table->name);
    diag_hint("give both features the same `vocab N`");
    return false;
  }
  ra->vocab_of = rb;
  return true;
}

static Value *bi_embed(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Feature *f = arg_feature(c, a, 0, true);
  Value *d = a->v[1];
  if (!f || !d || !check_name_arg(c, a, 3)) return NULL;
  IrNode *table;
  if (d->kind == V_INT) {
    if (d->num < 1 || d->num > 65536) {
      sema_error(c, a->loc[1], "an embedding dimension must be from 1 to 65536");
      return NULL;
    }
    Record *init = a->given[2] ? make_record(c, "initializer", a->v[2], a->loc[2]) : NULL;
    if (a->given[2] && !init) return NULL;
    Value *nm = name_arg(a, "name");
    const char *base = c->prefix[0] ? arena_printf("%s/", c->prefix) : "";
    const char *name;
    if (nm) {
      name = arena_printf("%s%s", base, nm->s);
    } else {   // a fresh table per call: <feature>_emb, <feature>_emb_1, ...
      int k = layer_number(c, arena_printf("%s_emb", f->name));
      name = arena_printf("%s%s_emb%s", base, f->name, k ? arena_printf("_%d", k) : "");
    }
    Shape s = {2, {(int)f->vocab, (int)d->num}};
    table = get_param(c, name, s, init, true, a->call->loc);
    if (!table) return NULL;
  } else if (d->kind == V_TENSOR && d->param && d->param->is_table) {
    if (a->given[2]) {
      sema_error(c, a->loc[2], "a declared table has its own init; set it on the `table` line");
      return NULL;
    }
    table = d->t;
    if (c->lagged) {
      table = get_param(c, d->param->name, d->param->shape, d->param->init, true, a->loc[1]);
      if (!table) return NULL;
    }
    if (!share_vocabulary(c, f, d->param, a->loc[0])) return NULL;
    if (table->shape.dim[0] < f->vocab) {
      sema_error(c, a->loc[1], "table '%s' has %d rows but feature '%s' has %lld ids", d->param->name,
                 table->shape.dim[0], f->name, (long long)f->vocab);
      diag_hint("give the table at least %lld rows, or a smaller vocab to the feature", (long long)f->vocab);
      return NULL;
    }
  } else {
    sema_error(c, a->loc[1], "embed() takes a dimension or a declared table, got %s", val_kind_name(d));
    return NULL;
  }
  IrNode *in[2] = {table, f->node};
  IrNode *e = emit(c, OP_GATHER, in, 2, NULL, a->call->loc);
  if (!e) return NULL;
  if (f->kind == FK_WEIGHTED) {   // each row scaled by its weight
    Shape ws = f->weights->shape;
    ws.dim[ws.rank++] = 1;
    IrNode *w = reshape(c, f->weights, ws, a->call->loc);
    IrNode *mi[2] = {e, w};
    e = emit(c, OP_MUL, mi, 2, NULL, a->call->loc);
  }
  return val_tensor(e, f->mask);
}

static Value *apply_act(Ctx *c, Value *act, Value *x, Loc loc, Node *call) {
  if (!act) return x;
  if (act->kind != V_FUNC) {
    sema_error(c, loc, "act must be a function such as relu, got %s", val_kind_name(act));
    return NULL;
  }
  Value *pos[1] = {x};
  Loc pl[1] = {loc};
  return call_function(c, act, call, pos, pl, 1, NULL, NULL, NULL, 0);
}

static Value *bi_dense(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  int units;
  if (!x || !arg_int(c, a, 1, 1, &units) || !check_name_arg(c, a, 4)) return NULL;
  Record *init = a->given[5] ? make_record(c, "initializer", a->v[5], a->loc[5]) : NULL;
  if (a->given[5] && !init) return NULL;
  Shape xs = x->t->shape;
  if (xs.rank == 0) {
    sema_error(c, a->loc[0], "dense() needs a vector or more, got a scalar per example");
    diag_hint("reshape(x, [1]) makes it a vector of one");
    return NULL;
  }
  bool bias;
  if (!arg_bool(c, a, 3, true, &bias)) return NULL;
  const char *saved = c->prefix;
  c->prefix = layer_prefix(c, "dense", name_arg(a, "name"));
  Shape ws = {2, {xs.dim[xs.rank - 1], units}};
  static Record xavier = {"xavier", 0, {0}, {0}, {0}, {0}};
  IrNode *w = get_param(c, arena_printf("%s/w", c->prefix), ws, init ? init : &xavier, false, a->call->loc);
  IrNode *y = NULL;
  if (w) {
    IrNode *in[2] = {x->t, w};
    y = emit(c, OP_MATMUL, in, 2, NULL, a->call->loc);
  }
  if (y && bias) {
    static Record zeros = {"zeros", 0, {0}, {0}, {0}, {0}};
    IrNode *bn = get_param(c, arena_printf("%s/b", c->prefix), (Shape){1, {units}}, &zeros, false, a->call->loc);
    IrNode *in[2] = {y, bn};
    y = bn ? emit(c, OP_ADD, in, 2, NULL, a->call->loc) : NULL;
  }
  Value *r = y ? val_tensor(y, x->mask) : NULL;
  if (r && a->given[2]) r = apply_act(c, a->v[2], r, a->loc[2], a->call);
  c->prefix = saved;
  return r;
}

// The (AU)GRU recurrence over every step at once: stdlib/rnn.model's gru and augru.
// The first n arguments as tensors, or false (reported).
static bool tensor_args(Ctx *c, Args *a, IrNode **in, int n) {
  for (int i = 0; i < n; i++) {
    Value *v = arg_tensor(c, a, i);
    if (!v) return false;
    in[i] = v->t;
  }
  return true;
}

static Value *bi_augru_scan(Ctx *c, Args *a, const Builtin *b) {
  IrNode *in[4];
  bool reverse;
  if (!tensor_args(c, a, in, 4) || !arg_bool(c, a, 4, false, &reverse)) return NULL;
  IrNode attrs = {0};
  attrs.axis = reverse;
  return val_tensor(emit(c, b->op, in, 4, &attrs, a->call->loc), NULL);
}

// AFM's attention pooling in one kernel: stdlib/attention.model's afm_attention.
static Value *bi_afm_pool(Ctx *c, Args *a, const Builtin *b) {
  IrNode *in[4];
  if (!tensor_args(c, a, in, 4)) return NULL;
  return val_tensor(emit(c, b->op, in, 4, NULL, a->call->loc), NULL);
}

static Value *bi_param(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *l = a->v[0];
  if (!l || !check_name_arg(c, a, 2)) return NULL;
  if (l->kind != V_LIST || l->list.len > MAX_RANK) {
    sema_error(c, a->loc[0], "param() takes a shape: a list of up to %d integers, e.g. param([16])", MAX_RANK);
    return NULL;
  }
  Shape s = {l->list.len, {0}};
  for (int i = 0; i < s.rank; i++) {
    Value *d = l->list.items[i];
    if (d->kind != V_INT || d->num < 1 || d->num > 1e9) {
      sema_error(c, a->loc[0], "a shape is a list of positive integers");
      return NULL;
    }
    s.dim[i] = (int)d->num;
  }
  Record *init = a->given[1] ? make_record(c, "initializer", a->v[1], a->loc[1]) : NULL;
  if (a->given[1] && !init) return NULL;
  const char *name = layer_prefix(c, "param", name_arg(a, "name"));
  return val_tensor(get_param(c, name, s, init, false, a->call->loc), NULL);
}

// ---- compile-time helpers ----

static Value *bi_mask(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *v = a->v[0];
  if (!v) return NULL;
  if (v->kind == V_FEATURE && v->f->mask) return val_tensor(v->f->mask, NULL);
  if (v->kind == V_TENSOR && v->mask) return val_tensor(v->mask, NULL);
  sema_error(c, a->loc[0], "%s is not a masked sequence", val_kind_name(v));
  diag_hint("masks come from list features (id[N], hash[N], weighted[N]) and what is computed from them");
  return NULL;
}

static Value *bi_len(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *v = a->v[0];
  if (!v) return NULL;
  if (v->kind != V_LIST) {
    sema_error(c, a->loc[0], "len() takes a list, got %s", val_kind_name(v));
    return NULL;
  }
  return val_int(v->list.len);
}

static Value *bi_range(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  int n;
  if (!arg_int(c, a, 0, 0, &n)) return NULL;
  if (n > 4096) {
    sema_error(c, a->loc[0], "range(%d) is too long to unroll (at most 4096)", n);
    return NULL;
  }
  Value *l = val_new(V_LIST);
  for (int i = 0; i < n; i++) vec_push(&l->list, val_int(i));
  return l;
}

static Value *bi_vocab(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Feature *f = arg_feature(c, a, 0, true);
  return f ? val_int((double)f->vocab) : NULL;
}

static Value *bi_dim(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  int axis;
  if (!x || !arg_axis(c, a, 1, x->t->shape.rank, 0, &axis)) return NULL;
  return val_int(x->t->shape.dim[axis]);
}

static Value *bi_next(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Feature *f = arg_feature(c, a, 0, false);
  if (!f) return NULL;
  Feature *n = feature_next(c, f, a->call->loc);
  if (!n) return NULL;
  Value *v = val_new(V_FEATURE);
  v->f = n;
  return v;
}

static Value *bi_stop_gradient(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *x = arg_tensor(c, a, 0);
  return x ? val_tensor(emit(c, OP_STOPGRAD, &x->t, 1, NULL, a->call->loc), x->mask) : NULL;
}

// lagged(EXPR, every=N): EXPR with target copies of its parameters, no gradient.
Value *eval_lagged(Ctx *c, Node *call) {
  Node *expr = NULL;
  int every = 1000;
  for (Node *arg = call->list; arg; arg = arg->next) {
    if (!arg->name && !expr) {
      expr = arg->a;
    } else if (arg->name && !strcmp(arg->name, "every")) {
      Value *v = sema_eval(c, arg->a);
      if (!v) return NULL;
      if (v->kind != V_INT || v->num < 1) {
        sema_error(c, arg->a->loc, "every must be a positive integer (training steps)");
        return NULL;
      }
      every = (int)v->num;
    } else {
      sema_error(c, arg->loc, "lagged() takes one expression and every=N");
      return NULL;
    }
  }
  if (!expr) {
    sema_error(c, call->loc, "lagged() needs an expression");
    return NULL;
  }
  if (c->lagged) {
    sema_error(c, call->loc, "lagged() inside lagged()");
    return NULL;
  }
  c->lagged = true;
  c->lag_every = every;
  Value *v = to_tensor(c, sema_eval(c, expr), expr->loc);
  c->lagged = false;
  if (!v) return NULL;
  return val_tensor(emit(c, OP_STOPGRAD, &v->t, 1, NULL, call->loc), v->mask);
}

// ---- losses ----

// A prediction of shape [1] stands for one number per example.
static IrNode *squeeze1(Ctx *c, IrNode *p, IrNode *y, Loc loc) {
  if (p->shape.rank == 1 && p->shape.dim[0] == 1 && y->shape.rank == 0) return reshape(c, p, (Shape){0, {0}}, loc);
  return p;
}

static Value *bi_pointwise_loss(Ctx *c, Args *a, const Builtin *b) {
  Value *p = arg_tensor(c, a, 0), *y = arg_tensor(c, a, 1);
  if (!p || !y) return NULL;
  IrNode *in[2] = {squeeze1(c, p->t, y->t, a->loc[0]), y->t};
  if (!in[0]) return NULL;
  return val_tensor(emit(c, b->op, in, 2, NULL, a->call->loc), NULL);
}

static Value *bi_softmax_ce(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *l = arg_tensor(c, a, 0);
  Feature *f = arg_feature(c, a, 1, true);
  if (!l || !f) return NULL;
  if (f->is_list) {
    sema_error(c, a->loc[1], "softmax_ce needs one target id per example; '%s' is a list", f->name);
    return NULL;
  }
  if (l->t->shape.rank == 1 && l->t->shape.dim[0] < f->vocab) {
    sema_error(c, a->loc[0], "%d logits cannot score the %lld ids of '%s'", l->t->shape.dim[0], (long long)f->vocab,
               f->name);
    return NULL;
  }
  IrNode *in[2] = {l->t, f->node};
  return val_tensor(emit(c, OP_SOFTMAX_CE, in, 2, NULL, a->call->loc), NULL);
}

// sampled_softmax(u, TABLE, target, samples=S): softmax cross-entropy of the
// target row's score against S rows drawn uniformly from the target's vocabulary
// (the runtime draws them per example, as for negative(F)); built from primitives:
//   logits = [u . T[target], u . T[s_1..S]],  loss = logsumexp(logits) - logits[0].
// Uniform sampling makes the usual log Q correction a constant, so it is left out;
// a sampled id equal to the target is not removed (rare with a large vocabulary).
static bool share_vocabulary(Ctx *c, Feature *f, Param *table, Loc loc);

static Value *bi_sampled_softmax(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *u = arg_tensor(c, a, 0), *t = a->v[1];
  Feature *f = arg_feature(c, a, 2, true);
  int samples = 100;
  if (!u || !t || !f || (a->given[3] && !arg_int(c, a, 3, 1, &samples))) return NULL;
  if (t->kind != V_TENSOR || !t->param || !t->param->is_table) {
    sema_error(c, a->loc[1], "sampled_softmax scores against a declared table, got %s", val_kind_name(t));
    return NULL;
  }
  if (f->is_list) {
    sema_error(c, a->loc[2], "sampled_softmax needs one target id per example; '%s' is a list", f->name);
    return NULL;
  }
  if (t->t->shape.dim[0] < f->vocab) {
    sema_error(c, a->loc[1], "table '%s' has %d rows but target '%s' has %lld ids", t->param->name,
               t->t->shape.dim[0], f->name, (long long)f->vocab);
    return NULL;
  }
  if (samples >= f->vocab - 2) {
    sema_error(c, a->loc[3], "samples=%d is not fewer than the %lld ids of '%s'", samples, (long long)f->vocab - 2, f->name);
    return NULL;
  }
  Shape us = u->t->shape;
  if (us.rank != 1 || us.dim[0] != t->t->shape.dim[1]) {
    sema_error(c, a->loc[0], "shape mismatch: user vector %s against table rows [%d]", shape_str(us), t->t->shape.dim[1]);
    return NULL;
  }
  if (!share_vocabulary(c, f, t->param, a->loc[2])) return NULL;
  Feature *neg = sampled_feature(c, f, samples, a->call->loc);
  if (!c->g->retrieve_user) {   // what `retrieve` scores: the user vector against the table's rows
    c->g->retrieve_user = u->t;
    c->g->retrieve_table = t->param;
    c->g->retrieve_target = f;
  }
  Loc loc = a->call->loc;
  IrNode *pi[2] = {t->t, f->node}, *ni[2] = {t->t, neg->node};
  IrNode *pos = emit(c, OP_GATHER, pi, 2, NULL, loc), *rows = emit(c, OP_GATHER, ni, 2, NULL, loc);
  if (!pos || !rows) return NULL;
  IrNode all = {0};
  all.axis = AXIS_ALL;
  IrNode by_row = {0};
  by_row.axis = 1;
  IrNode *m1[2] = {pos, u->t}, *m2[2] = {rows, u->t};
  IrNode *pm = emit(c, OP_MUL, m1, 2, NULL, loc), *nm = emit(c, OP_MUL, m2, 2, NULL, loc);
  IrNode *lp = emit(c, OP_SUM, &pm, 1, &all, loc);             // []
  IrNode *ln = emit(c, OP_SUM, &nm, 1, &by_row, loc);          // [S]
  IrNode *lp1 = reshape(c, lp, (Shape){1, {1}}, loc);
  IrNode cat = {0};
  IrNode *ci[2] = {lp1, ln};
  IrNode *logits = emit(c, OP_CONCAT, ci, 2, &cat, loc);       // [S+1], the target first
  IrNode *mx = emit(c, OP_RMAX, &logits, 1, &all, loc);
  IrNode *mc = emit(c, OP_STOPGRAD, &mx, 1, NULL, loc);        // a constant shift, for stability
  IrNode *si[2] = {logits, mc};
  IrNode *sh = emit(c, OP_SUB, si, 2, NULL, loc);
  IrNode *ex = emit(c, OP_EXP, &sh, 1, NULL, loc);
  IrNode *se = emit(c, OP_SUM, &ex, 1, &all, loc);
  IrNode *lg = emit(c, OP_LOG, &se, 1, NULL, loc);
  IrNode *li[2] = {lg, mc};
  IrNode *lse = emit(c, OP_ADD, li, 2, NULL, loc);
  IrNode *fi[2] = {lse, lp};
  return val_tensor(emit(c, OP_SUB, fi, 2, NULL, loc), NULL);
}

static Feature *weighted_feature(Ctx *c, Args *a, int i) {
  Feature *f = arg_feature(c, a, i, true);
  if (f && f->kind != FK_WEIGHTED) {
    sema_error(c, a->loc[i], "'%s' is not a weighted feature", f->name);
    diag_hint("declare it as weighted[N] ... (id:value pairs)");
    return NULL;
  }
  return f;
}

// densify(F): a weighted list as a dense per-example vector [vocab] (AutoRec's input).
static Value *bi_densify(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Feature *f = weighted_feature(c, a, 0);
  if (!f) return NULL;
  IrNode attrs = {0};
  attrs.len = (int)f->vocab;
  IrNode *in[2] = {f->node, f->weights};
  return val_tensor(emit(c, OP_SCATTER, in, 2, &attrs, a->call->loc), NULL);
}

// masked_mse(pred, F): squared error of pred [V] at F's ids against F's values,
// summed over the present entries (AutoRec's objective).
static Value *bi_masked_mse(Ctx *c, Args *a, const Builtin *b) {
  (void)b;
  Value *p = arg_tensor(c, a, 0);
  Feature *f = weighted_feature(c, a, 1);
  if (!p || !f) return NULL;
  if (p->t->shape.rank != 1 || p->t->shape.dim[0] < f->vocab) {
    sema_error(c, a->loc[0], "masked_mse needs a prediction [%lld] (one per id of '%s'), got %s", (long long)f->vocab,
               f->name, shape_str(p->t->shape));
    return NULL;
  }
  if (f->value_column && !c->g->heldout_pred) {   // held-out (key, id, value) rows are scored on it
    c->g->heldout_pred = p->t;
    c->g->heldout_target = f;
  }
  Loc loc = a->call->loc;
  IrNode *gi[2] = {p->t, f->node};
  IrNode *g = emit(c, OP_GATHER, gi, 2, NULL, loc);
  if (!g) return NULL;
  IrNode *di[2] = {g, f->weights};
  IrNode *d = emit(c, OP_SUB, di, 2, NULL, loc);
  IrNode *si[2] = {d, d};
  IrNode *sq = d ? emit(c, OP_MUL, si, 2, NULL, loc) : NULL;
  if (!sq) return NULL;
  return reduce(c, OP_SUM, val_tensor(sq, f->mask), 0, loc);
}

// ---- records: optimizers and initialisers ----

static const struct {
  const char *name, *kind;
} record_kinds[] = {
    {"sgd", "optimizer"},      {"adagrad", "optimizer"},    {"adam", "optimizer"}, {"ftrl", "optimizer"},
    {"zeros", "initializer"},  {"ones", "initializer"},     {"const", "initializer"},
    {"normal", "initializer"}, {"uniform", "initializer"},  {"xavier", "initializer"},
    {"checkpoint", "initializer"},
};

const char *record_kind(const char *name) {
  for (size_t i = 0; i < sizeof record_kinds / sizeof *record_kinds; i++)
    if (!strcmp(record_kinds[i].name, name)) return record_kinds[i].kind;
  return NULL;
}

static Value *bi_record(Ctx *c, Args *a, const Builtin *b) {
  Record *r = arena_alloc(sizeof *r);
  r->name = b->name;
  r->loc = a->call->loc;
  bool is_file = !strcmp(b->name, "checkpoint");
  for (int i = 0; i < a->n; i++) {
    if (!a->given[i]) continue;
    Value *v = a->v[i];
    const char *key = a->names[i];
    if (is_file) {
      if (v->kind != V_STR || !v->s[0]) {
        sema_error(c, a->loc[i], "'%s' of checkpoint() is a non-empty string", key);
        return NULL;
      }
      r->svals[r->n] = v->s;
    } else {
      if ((v->kind != V_INT && v->kind != V_FLOAT) || !isfinite(v->num)) {
        sema_error(c, a->loc[i], "'%s' of %s() must be a number, got %s", key, b->name, val_kind_name(v));
        return NULL;
      }
      bool positive = !strcmp(key, "lr") || !strcmp(key, "std") || !strcmp(key, "a") || !strcmp(key, "eps") ||
                      !strcmp(key, "alpha");
      bool unit = !strcmp(key, "beta1") || !strcmp(key, "beta2") || !strcmp(key, "momentum");
      if ((positive && v->num <= 0) || (unit && (v->num < 0 || v->num >= 1)) ||
          (!positive && !unit && strcmp(key, "mean") && strcmp(key, "value") && v->num < 0)) {
        sema_error(c, a->loc[i], "'%s' of %s() is out of range: %g", key, b->name, v->num);
        diag_hint(positive ? "it must be > 0" : unit ? "it must be in [0, 1)" : "it must be >= 0");
        return NULL;
      }
      r->vals[r->n] = v->num;
    }
    r->keys[r->n++] = key;
  }
  Value *out = val_new(V_RECORD);
  out->rec = r;
  return out;
}

// ---- the table ----

const Builtin builtins[] = {
    {"embed", "f,dim,init?,name?", bi_embed, OP_GATHER},
    {"dense", "x,units,act?,bias?,name?,init?", bi_dense, OP_MATMUL},
    {"param", "shape,init?,name?", bi_param, OP_PARAM},
    {"augru_scan", "x,a,m,u,reverse?", bi_augru_scan, OP_GRU},
    {"sum", "x,axis?", bi_reduce, OP_SUM},
    {"mean", "x,axis?", bi_reduce, OP_MEAN},
    {"max", "x,y?,axis?", bi_minmax, OP_MAX},
    {"min", "x,y", bi_minmax, OP_MIN},
    {"softmax", "x,axis?,mask?", bi_softmax, OP_SOFTMAX},
    {"concat", "xs*,axis?", bi_concat, OP_CONCAT},
    {"stack", "xs*,axis?", bi_concat, OP_EXPAND},
    {"reshape", "x,shape", bi_reshape, OP_RESHAPE},
    {"transpose", "x", bi_transpose, OP_TRANSPOSE},
    {"triu", "x", bi_triu, OP_TRIU},
    {"pairwise_products", "e", bi_pairs, OP_PAIRS},
    {"afm_pool", "e,w,b,h", bi_afm_pool, OP_AFM_POOL},
    {"slice", "x,axis,start,len", bi_slice, OP_SLICE},
    {"expand", "x,axis,n", bi_expand, OP_EXPAND},
    {"sigmoid", "x", bi_unary, OP_SIGMOID},
    {"tanh", "x", bi_unary, OP_TANH},
    {"relu", "x", bi_unary, OP_RELU},
    {"exp", "x", bi_unary, OP_EXP},
    {"log", "x", bi_unary, OP_LOG},
    {"sqrt", "x", bi_unary, OP_SQRT},
    {"abs", "x", bi_unary, OP_ABS},
    {"square", "x", bi_unary, OP_MUL},
    {"identity", "x", bi_unary, OP_INPUT},
    {"dropout", "x,rate", bi_dropout, OP_DROPMASK},
    {"stop_gradient", "x", bi_stop_gradient, OP_STOPGRAD},
    {"standardize", "x", bi_standardize, OP_STANDARDIZE},
    {"mask", "x", bi_mask, OP_MASK},
    {"len", "x", bi_len, OP_CONST},
    {"range", "n", bi_range, OP_CONST},
    {"vocab", "f", bi_vocab, OP_CONST},
    {"dim", "x,axis", bi_dim, OP_CONST},
    {"next", "f", bi_next, OP_INPUT},
    {"lagged", "expr,every?", NULL, OP_STOPGRAD},   // evaluated lazily: eval_lagged
    {"bce", "p,y", bi_pointwise_loss, OP_BCE},
    {"mse", "p,y", bi_pointwise_loss, OP_MSE},
    {"softmax_ce", "logits,target", bi_softmax_ce, OP_SOFTMAX_CE},
    {"sampled_softmax", "user,table,target,samples?", bi_sampled_softmax, OP_SUB},
    {"masked_mse", "pred,target", bi_masked_mse, OP_SUM},
    {"densify", "f", bi_densify, OP_SCATTER},
    {"sgd", "lr?,momentum?", bi_record, OP_CONST},
    {"adagrad", "lr?,eps?,initial?", bi_record, OP_CONST},
    {"adam", "lr?,beta1?,beta2?,eps?", bi_record, OP_CONST},
    {"ftrl", "alpha?,beta?,l1?,l2?", bi_record, OP_CONST},
    {"zeros", "", bi_record, OP_CONST},
    {"ones", "", bi_record, OP_CONST},
    {"const", "value", bi_record, OP_CONST},
    {"normal", "std?,mean?", bi_record, OP_CONST},
    {"uniform", "a?", bi_record, OP_CONST},
    {"xavier", "", bi_record, OP_CONST},
    {"checkpoint", "file,tensor", bi_record, OP_CONST},
    {NULL, NULL, NULL, OP_CONST},
};

const Builtin *builtin_find(const char *name) {
  for (const Builtin *b = builtins; b->name; b++)
    if (!strcmp(b->name, name)) return b;
  return NULL;
}
