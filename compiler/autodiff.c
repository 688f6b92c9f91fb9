// autodiff.c: reverse-mode differentiation as a graph-to-graph rewrite.
//
// Requires: a verified graph in topological order, with its losses. Appends: the
// per-example total loss, then gradient nodes (is_grad) in reverse topological
// order, so the result is still topologically ordered and every later pass
// treats backward like forward. One rule per op (named in ops.def); gradients
// arriving at a node from several users are summed. The seed is 1/B per example,
// so parameter gradients are those of the batch's mean loss.
//
// Tables (embedding parameters) get no dense gradient: each lookup's row
// gradients are recorded as a SparseGrad, for the runtime's row-wise updates.
#include "dmc.h"
#include "kernels.h"

#include <string.h>

typedef struct {
  Graph *g;
  IrNode **grad;   // by node id: accumulated gradient, or NULL
  int nfwd;        // nodes before autodiff started
} Ad;

typedef void GradRule(Ad *ad, IrNode *n, IrNode *dy);

static IrNode *add(Ad *ad, Op op, IrNode **in, int nin, IrNode *attrs, IrNode *like) {
  IrNode a = {0};
  if (attrs) a = *attrs;
  a.is_grad = true;
  const char *err = NULL;
  IrNode *r = ir_add(ad->g, op, in, nin, &a, like->loc, &err);
  if (!r) die("autodiff of %s (%%%d): %s", op_info[like->op].name, like->id, err);
  r->scope = like->scope;
  return r;
}

static IrNode *op1(Ad *ad, Op op, IrNode *x, IrNode *like) { return add(ad, op, &x, 1, NULL, like); }
static IrNode *op2(Ad *ad, Op op, IrNode *x, IrNode *y, IrNode *like) {
  IrNode *in[2] = {x, y};
  return add(ad, op, in, 2, NULL, like);
}

// Reduces a gradient of a broadcast result back to the operand's shape.
static IrNode *unbroadcast(Ad *ad, IrNode *dy, IrNode *x) {
  if (shape_eq(dy->shape, x->shape) && dy->batched == x->batched) return dy;
  IrNode a = {0};
  a.shape = x->shape;
  a.axis = x->batched;
  return add(ad, OP_SUM_TO, &dy, 1, &a, x);
}

// x[.., start:start+len, ..] along axis.
static IrNode *slice_of(Ad *ad, IrNode *x, int axis, int start, int len, IrNode *like) {
  IrNode a = {0};
  a.axis = axis;
  a.start = start;
  a.len = len;
  return add(ad, OP_SLICE, &x, 1, &a, like);
}

static bool differentiable(IrNode *n) {
  return n->dt == DT_F32 && n->op != OP_CONST && n->op != OP_INPUT && n->op != OP_SEED && n->op != OP_MASK &&
         n->op != OP_STOPGRAD && n->op != OP_DROPMASK && n->op != OP_GE && n->op != OP_STEP && n->op != OP_SIGN &&
         !(n->op == OP_PARAM && ((Param *)n->ref)->lagged);
}

// Adds dx to x's gradient (summing at fan-out).
static void accum(Ad *ad, IrNode *x, IrNode *dx) {
  if (!differentiable(x)) return;
  dx = unbroadcast(ad, dx, x);
  IrNode *old = ad->grad[x->id];
  ad->grad[x->id] = old ? op2(ad, OP_ADD, old, dx, x) : dx;
}

// ---- rules ----

static void grad_none(Ad *ad, IrNode *n, IrNode *dy) { (void)ad, (void)n, (void)dy; }

static void grad_missing(Ad *ad, IrNode *n, IrNode *dy) {
  (void)ad, (void)dy;
  die("no gradient rule for op '%s' (%%%d)", op_info[n->op].name, n->id);
}

static void grad_add(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], dy);
  accum(ad, n->in[1], dy);
}

static void grad_sub(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], dy);
  accum(ad, n->in[1], op1(ad, OP_NEG, dy, n));
}

static void grad_mul(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], op2(ad, OP_MUL, dy, n->in[1], n));
  accum(ad, n->in[1], op2(ad, OP_MUL, dy, n->in[0], n));
}

static void grad_div(Ad *ad, IrNode *n, IrNode *dy) {   // y = a / b
  IrNode *da = op2(ad, OP_DIV, dy, n->in[1], n);
  accum(ad, n->in[0], da);
  accum(ad, n->in[1], op1(ad, OP_NEG, op2(ad, OP_MUL, da, n, n), n));   // -dy a / b^2 = -(dy / b) y
}

static void grad_minmax(Ad *ad, IrNode *n, IrNode *dy, bool is_max) {
  IrNode *a = n->in[0], *b = n->in[1];
  IrNode *pick_a = is_max ? op2(ad, OP_GE, a, b, n) : op2(ad, OP_GE, b, a, n);   // ties go to a
  IrNode *one = ir_const(ad->g, 1, n->loc);
  accum(ad, a, op2(ad, OP_MUL, dy, pick_a, n));
  accum(ad, b, op2(ad, OP_MUL, dy, op2(ad, OP_SUB, one, pick_a, n), n));
}
static void grad_max(Ad *ad, IrNode *n, IrNode *dy) { grad_minmax(ad, n, dy, true); }
static void grad_min(Ad *ad, IrNode *n, IrNode *dy) { grad_minmax(ad, n, dy, false); }

static void grad_neg(Ad *ad, IrNode *n, IrNode *dy) { accum(ad, n->in[0], op1(ad, OP_NEG, dy, n)); }
static void grad_exp(Ad *ad, IrNode *n, IrNode *dy) { accum(ad, n->in[0], op2(ad, OP_MUL, dy, n, n)); }
static void grad_log(Ad *ad, IrNode *n, IrNode *dy) { accum(ad, n->in[0], op2(ad, OP_DIV, dy, n->in[0], n)); }
static void grad_sqrt(Ad *ad, IrNode *n, IrNode *dy) {   // dy / (2 y)
  IrNode *half = ir_const(ad->g, 0.5, n->loc);
  accum(ad, n->in[0], op2(ad, OP_MUL, op2(ad, OP_DIV, dy, n, n), half, n));
}
static void grad_abs(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], op2(ad, OP_MUL, dy, op1(ad, OP_SIGN, n->in[0], n), n));
}
static void grad_sigmoid(Ad *ad, IrNode *n, IrNode *dy) {   // dy y (1 - y)
  IrNode *one = ir_const(ad->g, 1, n->loc);
  accum(ad, n->in[0], op2(ad, OP_MUL, dy, op2(ad, OP_MUL, n, op2(ad, OP_SUB, one, n, n), n), n));
}
static void grad_tanh(Ad *ad, IrNode *n, IrNode *dy) {   // dy (1 - y^2)
  IrNode *one = ir_const(ad->g, 1, n->loc);
  accum(ad, n->in[0], op2(ad, OP_MUL, dy, op2(ad, OP_SUB, one, op2(ad, OP_MUL, n, n, n), n), n));
}
static void grad_relu(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], op2(ad, OP_MUL, dy, op1(ad, OP_STEP, n->in[0], n), n));
}

// The gradient of a reduction broadcast back over the reduced axis (times the mask).
static IrNode *spread(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *x = n->in[0];
  IrNode *r;
  if (n->axis == AXIS_ALL) {
    IrNode a = {0};
    a.shape = x->shape;
    a.axis = x->batched;
    r = add(ad, OP_BROADCAST, &dy, 1, &a, n);
  } else {
    IrNode a = {0};
    a.axis = n->axis;
    a.len = x->shape.dim[n->axis];
    r = add(ad, OP_EXPAND, &dy, 1, &a, n);
  }
  if (n->nin == 2) {   // masked along axis 0: padded steps get nothing
    IrNode *m = n->in[1];
    Shape ms = m->shape;
    for (int i = 1; i < x->shape.rank; i++) ms.dim[ms.rank++] = 1;
    IrNode a = {0};
    a.shape = ms;
    IrNode *mr = ms.rank == m->shape.rank ? m : add(ad, OP_RESHAPE, &m, 1, &a, n);
    r = op2(ad, OP_MUL, r, mr, n);
  }
  return r;
}

static void grad_sum(Ad *ad, IrNode *n, IrNode *dy) { accum(ad, n->in[0], spread(ad, n, dy)); }

static void grad_mean(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *x = n->in[0];
  IrNode *count;
  if (n->nin == 2) {   // masked mean divides by the number of present steps (at least 1)
    IrNode a = {0};
    a.axis = AXIS_ALL;
    IrNode *m = n->in[1];
    count = op2(ad, OP_MAX, add(ad, OP_SUM, &m, 1, &a, n), ir_const(ad->g, 1, n->loc), n);
  } else {
    count = ir_const(ad->g, n->axis == AXIS_ALL ? shape_numel(x->shape) : x->shape.dim[n->axis], n->loc);
  }
  accum(ad, x, spread(ad, n, op2(ad, OP_DIV, dy, count, n)));
}

static void grad_rmax(Ad *ad, IrNode *n, IrNode *dy) {
  if (n->axis == AXIS_ALL) die("gradient of max over all axes is not supported (%%%d)", n->id);
  IrNode *in[3] = {n->in[0], dy, n->nin == 2 ? n->in[1] : NULL};
  IrNode a = {0};
  a.axis = n->axis;
  accum(ad, n->in[0], add(ad, OP_RMAX_GRAD, in, n->nin == 2 ? 3 : 2, &a, n));
}

static void grad_softmax(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *in[3] = {n, dy, n->nin == 2 ? n->in[1] : NULL};
  IrNode a = {0};
  a.axis = n->axis;
  accum(ad, n->in[0], add(ad, OP_SOFTMAX_GRAD, in, n->nin == 2 ? 3 : 2, &a, n));
}

static void grad_standardize(Ad *ad, IrNode *n, IrNode *dy) {
  accum(ad, n->in[0], op2(ad, OP_STANDARDIZE_GRAD, n->in[0], dy, n));
}

static void grad_matmul(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *a = n->in[0], *b = n->in[1];
  accum(ad, a, op2(ad, OP_MATMUL_NT, dy, b, n));   // the GEMM reads b transposed: no copy
  if (!differentiable(b)) return;
  IrNode at = {0};
  at.axis = b->batched;   // per example when b is; else summed over the batch
  IrNode *in[2] = {a, dy};
  accum(ad, b, add(ad, OP_MATMUL_TN, in, 2, &at, n));
}

// The backward of the recurrence is one kernel over the steps (runtime/rnn_impl.h);
// its per-step result [dzu dzr dzc | dzu dzr dq | h_prev | da] (runtime/kernels.h) is sliced
// into x's and a's gradients and U's, which is h_prev^T [dzu dzr dq] over the batch.
static void grad_gru(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *x = n->in[0], *u = n->in[3];
  int t = n->shape.dim[0], h = n->shape.dim[1];
  IrNode at = {0};
  at.axis = n->axis;
  IrNode *in[6] = {x, n->in[1], n->in[2], u, n, dy};
  IrNode *g = add(ad, OP_GRU_GRAD, in, 6, &at, n);
  accum(ad, x, slice_of(ad, g, 1, 0, 3 * h, n));
  IrNode sq = {0};
  sq.shape = (Shape){1, {t}};
  IrNode *da = slice_of(ad, g, 1, DMC_GRU_DA(h), 1, n);
  accum(ad, n->in[1], add(ad, OP_RESHAPE, &da, 1, &sq, n));
  if (!differentiable(u)) return;
  IrNode tn = {0};   // summed over the batch: U is shared
  IrNode *pair[2] = {slice_of(ad, g, 1, DMC_GRU_HP(h), h, n), slice_of(ad, g, 1, DMC_GRU_DZQ(h), 3 * h, n)};
  accum(ad, u, add(ad, OP_MATMUL_TN, pair, 2, &tn, n));
}

// One kernel recomputes the pooling and writes each example's gradients in a row
// (runtime/afm_impl.h); W's, b's and h's are summed over the batch by accum.
static void grad_afm_pool(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *in[5] = {n->in[0], n->in[1], n->in[2], n->in[3], dy};
  IrNode *g = add(ad, OP_AFM_POOL_GRAD, in, 5, NULL, n);
  int at = 0;
  for (int i = 0; i < 4; i++) {
    IrNode *x = n->in[i], sh = {0};
    int len = shape_numel(x->shape);
    sh.shape = x->shape;
    IrNode *part = slice_of(ad, g, 0, at, len, n);
    accum(ad, x, x->shape.rank == 1 ? part : add(ad, OP_RESHAPE, &part, 1, &sh, n));
    at += len;
  }
}

static void grad_gather(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *t = n->in[0], *ids = n->in[1];
  if (t->op == OP_PARAM) {
    Param *p = (Param *)t->ref;
    if (p->lagged) return;
    if (ids->op != OP_INPUT) die("table lookup with computed ids (%%%d)", n->id);
    SparseGrad *s = arena_alloc(sizeof *s);
    s->param = p;
    s->ids = ids;
    s->rows = dy;
    vec_push(&ad->g->sparse, s);
    return;
  }
  if (t->shape.rank != 1 || !t->batched) die("gradient of a lookup in %s (%%%d)", shape_str(t->shape), n->id);
  IrNode a = {0};
  a.len = t->shape.dim[0];
  IrNode *in[2] = {ids, dy};
  accum(ad, t, add(ad, OP_SCATTER, in, 2, &a, n));
}

static void grad_scatter(Ad *ad, IrNode *n, IrNode *dy) {   // d vals[t] = dy[ids[t]]
  accum(ad, n->in[1], op2(ad, OP_GATHER, dy, n->in[0], n));
}

static void grad_concat(Ad *ad, IrNode *n, IrNode *dy) {
  for (int k = 0, start = 0; k < n->nin; start += n->in[k++]->shape.dim[n->axis]) {
    IrNode *x = n->in[k];
    if (differentiable(x)) accum(ad, x, slice_of(ad, dy, n->axis, start, x->shape.dim[n->axis], n));
  }
}

static void grad_slice(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode a = {0};
  a.axis = n->axis;
  a.start = n->start;
  a.len = n->in[0]->shape.dim[n->axis];
  accum(ad, n->in[0], add(ad, OP_PAD, &dy, 1, &a, n));
}

static void grad_reshape(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode a = {0};
  a.shape = n->in[0]->shape;
  accum(ad, n->in[0], add(ad, OP_RESHAPE, &dy, 1, &a, n));
}

static void grad_transpose(Ad *ad, IrNode *n, IrNode *dy) { accum(ad, n->in[0], op1(ad, OP_TRANSPOSE, dy, n)); }

static void grad_triu(Ad *ad, IrNode *n, IrNode *dy) {   // dy back in place, zeros elsewhere
  IrNode a = {0};
  a.len = n->in[0]->shape.dim[n->in[0]->shape.rank - 1];
  accum(ad, n->in[0], add(ad, OP_TRIU_GRAD, &dy, 1, &a, n));
}

static void grad_pairs(Ad *ad, IrNode *n, IrNode *dy) {   // de_i = sum_j dy_(i,j) e_j
  IrNode *in[2] = {n->in[0], dy};
  accum(ad, n->in[0], add(ad, OP_PAIRS_GRAD, in, 2, NULL, n));
}

static void grad_expand(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode a = {0};
  a.axis = n->axis;
  accum(ad, n->in[0], add(ad, OP_SUM, &dy, 1, &a, n));
}

static void grad_bce(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *in[3] = {n->in[0], n->in[1], dy};
  accum(ad, n->in[0], add(ad, OP_BCE_GRAD, in, 3, NULL, n));
}

static void grad_mse(Ad *ad, IrNode *n, IrNode *dy) {   // mean over elements of (p - y)^2
  IrNode *p = n->in[0], *y = n->in[1];
  double k = 2.0 / shape_numel(p->shape);
  IrNode *d = op2(ad, OP_SUB, p, y, n);
  IrNode a = {0};
  a.shape = p->shape;
  a.axis = true;
  IrNode *s = op2(ad, OP_MUL, add(ad, OP_BROADCAST, &dy, 1, &a, n), ir_const(ad->g, k, n->loc), n);
  accum(ad, p, op2(ad, OP_MUL, d, s, n));
  accum(ad, y, op1(ad, OP_NEG, op2(ad, OP_MUL, d, s, n), n));
}

static void grad_softmax_ce(Ad *ad, IrNode *n, IrNode *dy) {
  IrNode *in[3] = {n->in[0], n->in[1], dy};
  accum(ad, n->in[0], add(ad, OP_SOFTMAX_CE_GRAD, in, 3, NULL, n));
}

static GradRule *const rules[OP__COUNT] = {
#define OP(name, text, arity, shape_rule, kind, grad) grad,
#include "ops.def"
#undef OP
};

void ad_build(Graph *g) {
  if (!g->losses.len) die("autodiff without a loss");
  Loc nowhere = {0};
  // the per-example total loss
  IrNode *total = ((Output *)g->losses.items[0])->node;
  for (int i = 1; i < g->losses.len; i++) {
    IrNode *in[2] = {total, ((Output *)g->losses.items[i])->node};
    const char *err = NULL;
    total = ir_add(g, OP_ADD, in, 2, NULL, nowhere, &err);
    if (!total) die("summing losses: %s", err);
    total->scope = "";
  }
  g->total_loss = total;
  Ad ad = {g, NULL, g->nodes.len};
  ad.grad = arena_alloc(sizeof(IrNode *) * (size_t)(4 * g->nodes.len + 64));
  IrNode *seed = ir_leaf(g, OP_SEED, DT_F32, (Shape){0, {0}}, true, NULL, NULL, nowhere);
  seed->is_grad = true;
  seed->scope = "";
  ad.grad[total->id] = seed;
  for (int i = ad.nfwd - 1; i >= 0; i--) {
    IrNode *n = g->nodes.items[i];
    IrNode *dy = ad.grad[n->id];
    if (!dy || !differentiable(n)) continue;
    rules[n->op](&ad, n, dy);
  }
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    vec_push(&g->grads, p->is_table ? NULL : ad.grad[p->node->id]);
  }
}
