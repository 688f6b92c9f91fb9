// cse.c: common subexpression elimination. Two nodes with the same op, operands
// and attributes compute the same value, so the later one is replaced by the
// earlier everywhere (operands and every graph-level reference); DCE then drops
// it. Autodiff and unrolled loops make many: every use of a constant repeats it,
// and a value built the same way in several loop iterations is built again.
// Nodes with effects are never merged: standardize moves running statistics,
// and dropout masks are kept apart on purpose. Requires: topological order.
#include "dmc.h"

#include <stdlib.h>
#include <string.h>

static bool mergeable(const IrNode *n) {
  return n->op != OP_INPUT && n->op != OP_PARAM && n->op != OP_STANDARDIZE && n->op != OP_DROPMASK;
}

static bool same(const IrNode *a, const IrNode *b) {
  if (a->op != b->op || a->dt != b->dt || a->batched != b->batched || a->nin != b->nin) return false;
  if (a->axis != b->axis || a->start != b->start || a->len != b->len || memcmp(&a->fval, &b->fval, sizeof a->fval))
    return false;
  if (a->shape.rank != b->shape.rank) return false;
  for (int i = 0; i < a->shape.rank; i++)
    if (a->shape.dim[i] != b->shape.dim[i]) return false;
  for (int i = 0; i < a->nin; i++)
    if (a->in[i] != b->in[i]) return false;
  return true;
}

static uint64_t key(const IrNode *n) {
  uint64_t h = 1469598103934665603ULL;
#define MIX(v) h = (h ^ (uint64_t)(v)) * 1099511628211ULL
  MIX(n->op), MIX(n->nin), MIX(n->axis), MIX(n->start), MIX(n->len), MIX(n->shape.rank);
  for (int i = 0; i < n->nin; i++) MIX(n->in[i]->id);
  for (int i = 0; i < n->shape.rank; i++) MIX(n->shape.dim[i]);
  uint64_t bits;
  memcpy(&bits, &n->fval, sizeof bits);
  MIX(bits);
#undef MIX
  return h;
}

IrNode *ir_kept(IrNode **repl, int n, IrNode *x) { return x && x->id < n && repl[x->id] ? repl[x->id] : x; }

void ir_redirect(Graph *g, IrNode **repl, int n) {
#define KEPT(x) ir_kept(repl, n, (x))
  for (int i = 0; i < g->outputs.len; i++) {
    Output *o = g->outputs.items[i];
    o->node = KEPT(o->node);
  }
  for (int i = 0; i < g->losses.len; i++) {
    Output *o = g->losses.items[i];
    o->node = KEPT(o->node);
  }
  for (int i = 0; i < g->features.len; i++) {
    Feature *f = g->features.items[i];
    f->node = KEPT(f->node), f->weights = KEPT(f->weights), f->mask = KEPT(f->mask);
  }
  for (int i = 0; i < g->grads.len; i++) g->grads.items[i] = KEPT(g->grads.items[i]);
  for (int i = 0; i < g->sparse.len; i++) {
    SparseGrad *s = g->sparse.items[i];
    s->ids = KEPT(s->ids), s->rows = KEPT(s->rows), s->coef = KEPT(s->coef), s->vec = KEPT(s->vec);
  }
  g->total_loss = KEPT(g->total_loss);
  g->heldout_pred = KEPT(g->heldout_pred);
  g->retrieve_user = KEPT(g->retrieve_user);
#undef KEPT
}

int *ir_readers(Graph *g) {
  int *readers = calloc((size_t)g->nodes.len + 1, sizeof *readers);
  if (!readers) die("out of memory counting readers");
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *x = g->nodes.items[i];
    for (int k = 0; k < x->nin; k++) readers[x->in[k]->id]++;
  }
  for (int i = 0; i < g->outputs.len; i++) readers[((Output *)g->outputs.items[i])->node->id]++;
  return readers;
}

void ir_place_appended(Graph *g, int n, const int *added_from) {
  if (g->nodes.len == n) return;
  Vec order = {0};
  for (int i = 0; i < n; i++) {
    int end = i + 1 < n ? added_from[i + 1] : g->nodes.len;
    for (int k = added_from[i]; k < end; k++) vec_push(&order, g->nodes.items[k]);
    vec_push(&order, g->nodes.items[i]);
  }
  g->nodes = order;
  for (int i = 0; i < g->nodes.len; i++) ((IrNode *)g->nodes.items[i])->id = i;
}

void ir_rewrite(Graph *g, IrRewrite rw) {
  int n = g->nodes.len, *readers = ir_readers(g);
  IrNode **repl = calloc((size_t)n + 1, sizeof *repl);
  int *added_from = calloc((size_t)n + 1, sizeof *added_from);   // nodes appended before each rewrite
  if (!repl || !added_from) die("out of memory rewriting the graph");
  for (int i = 0; i < n; i++) {
    IrNode *x = g->nodes.items[i], *r;
    for (int k = 0; k < x->nin; k++) x->in[k] = ir_kept(repl, n, x->in[k]);
    added_from[i] = g->nodes.len;
    if (!(r = rw(g, x, readers))) continue;
    for (int j = added_from[i]; j < g->nodes.len; j++) ((IrNode *)g->nodes.items[j])->scope = x->scope;
    repl[x->id] = r;
  }
  ir_redirect(g, repl, n);
  ir_place_appended(g, n, added_from);   // each rewrite's nodes go right before the node they replace
  free(repl), free(added_from), free(readers);
}

void ir_cse(Graph *g) {
  int n = g->nodes.len;
  size_t cap = 16;
  while (cap < (size_t)n * 2) cap *= 2;
  IrNode **table = calloc(cap, sizeof *table), **repl = calloc((size_t)n + 1, sizeof *repl);
  if (!table || !repl) die("out of memory in CSE");
  for (int i = 0; i < n; i++) {
    IrNode *x = g->nodes.items[i];
    for (int k = 0; k < x->nin; k++) x->in[k] = ir_kept(repl, n, x->in[k]);
    if (!mergeable(x)) continue;
    for (size_t h = key(x) & (cap - 1);; h = (h + 1) & (cap - 1)) {
      if (!table[h]) {
        table[h] = x;
        break;
      }
      if (same(table[h], x)) {
        repl[x->id] = table[h];
        break;
      }
    }
  }
  ir_redirect(g, repl, n);
  free(table), free(repl);
}

// Transposes the GEMM can do by reading its operands in another order, never
// written: matmul(a, transpose(x)) with x a matrix is matmul_nt(a, x), which reads
// x transposed (stdlib's inner_product, e @ transpose(e)), and the gradient's
// matmul_nt(dy, transpose(x)) is matmul(dy, x); transpose(matmul_tn(a,
// b)), b^T a, is matmul_tn(b, a) (that product's gradient for the transposed
// operand), when the transpose is the product's one reader. The nodes change in
// place; DCE then drops the transposes and products no one reads any more.
void ir_fold_transposes(Graph *g) {
  int n = g->nodes.len, *readers = ir_readers(g);
  for (int i = 0; i < n; i++) {
    IrNode *x = g->nodes.items[i], *t = x->nin > 0 ? x->in[x->nin - 1] : NULL;
    if ((x->op == OP_MATMUL || x->op == OP_MATMUL_NT) && t->op == OP_TRANSPOSE && t->in[0]->shape.rank == 2 &&
        t->batched == t->in[0]->batched) {
      x->op = x->op == OP_MATMUL ? OP_MATMUL_NT : OP_MATMUL;
      x->in[1] = t->in[0];
    } else if (x->op == OP_TRANSPOSE && x->in[0]->op == OP_MATMUL_TN && readers[x->in[0]->id] == 1 &&
               x->batched == x->in[0]->batched) {
      IrNode *p = x->in[0];
      x->op = OP_MATMUL_TN;
      x->nin = 2;
      x->in[0] = p->in[1];
      x->in[1] = p->in[0];
      x->axis = p->axis;
    }
  }
  free(readers);
}

// A sum_to of a per-example vector to one value per example (the gradient of a
// broadcast scalar: DCN's x0 * sum(x * w)) is a sum over all its axes, which
// fuse.c ends the program that computes its operand with (a tail sum).
void ir_sums_to_scalars(Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *x = g->nodes.items[i];
    if (x->op == OP_SUM_TO && x->shape.rank == 0 && x->batched && x->in[0]->batched && x->in[0]->shape.rank == 1)
      x->op = OP_SUM, x->axis = AXIS_ALL;
  }
}

// A reduction over one value (an unmasked sum or mean over an axis of length 1:
// a first-order weight's `sum(embed(id, w))`), or an expand, broadcast or sum_to to
// as many values, moves nothing: it is a reshape, so a view with no kernel.
void ir_unit_moves_as_reshapes(Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *x = g->nodes.items[i];
    bool unit = ((x->op == OP_SUM || x->op == OP_MEAN) && x->nin == 1) || x->op == OP_EXPAND ||
                x->op == OP_BROADCAST || x->op == OP_SUM_TO;
    if (unit && x->dt == DT_F32 && x->batched == x->in[0]->batched &&
        shape_numel64(x->shape) == shape_numel64(x->in[0]->shape))
      x->op = OP_RESHAPE, x->axis = 0, x->start = 0, x->len = 0;
  }
}

// An elementwise node that reads expand(x, axis) reads x through a reshape that
// puts a 1 at the axis instead (x itself for axis 0, and for broadcast(x), the
// gradient of a sum over all axes: DCN's cross layers): broadcasting gives the same
// values, the reshape is a view, so the expanded copy is never written (a sampled
// softmax's user vector against 500 item rows, an attention query against the
// history) unless something other than an elementwise node reads it. The
// reshapes go right before their reader; DCE then drops unread expands and
// renumbers.
void ir_forward_broadcasts(Graph *g) {
  int n = g->nodes.len;
  int *added_from = calloc((size_t)n + 1, sizeof *added_from);
  if (!added_from) die("out of memory forwarding broadcasts");
  for (int i = 0; i < n; i++) {
    IrNode *x = g->nodes.items[i];
    added_from[i] = g->nodes.len;
    if (op_info[x->op].kind != OK_ELEMWISE || x->dt != DT_F32 || x->op == OP_DROPMASK || x->op == OP_MASK) continue;
    for (int k = 0; k < x->nin; k++) {
      IrNode *e = x->in[k], *src = e->in[0];
      if ((e->op != OP_EXPAND && e->op != OP_BROADCAST) || e->dt != DT_F32 || e->batched != x->batched ||
          src->batched != e->batched || e->shape.rank != x->shape.rank)
        continue;
      bool same = true;
      for (int d = 0; d < x->shape.rank; d++) same &= e->shape.dim[d] == x->shape.dim[d];
      if (!same) continue;
      if (e->op == OP_BROADCAST || e->axis == 0) {   // numpy broadcasting, or x's axes are the trailing ones
        x->in[k] = src;
        continue;
      }
      IrNode attrs = {.is_grad = x->is_grad};
      attrs.shape.rank = src->shape.rank + 1;
      for (int d = 0, s = 0; d < attrs.shape.rank; d++) attrs.shape.dim[d] = d == e->axis ? 1 : src->shape.dim[s++];
      const char *err = NULL;
      IrNode *r = ir_add(g, OP_RESHAPE, &src, 1, &attrs, e->loc, &err);
      if (!r) die("forwarding a broadcast: %s", err);
      r->scope = e->scope;
      x->in[k] = r;
    }
  }
  ir_place_appended(g, n, added_from);   // the new reshapes go just before their readers
  free(added_from);
}

// A lookup's row gradient rows = coef * vec, coef [L, 1] one value per looked-up row and
// vec [D] one vector per example (a lookup scored by a dot product with the example's
// vector: a sampled softmax's rows against the user vector), is left to the runtime as
// its two factors (DmcSparseGrad.vec_*): the [L, D] rows are never written. YouTube
// DNN wrote 500 rows of 64 an example (65 MB a batch of 512) for the sparse step to
// read back from memory. Both factors must be computed values: the runtime reads them
// from the workspace (a weighted list's weights are an input).
static IrNode *unviewed(IrNode *x) {
  while (x->op == OP_RESHAPE && x->batched == x->in[0]->batched) x = x->in[0];
  return x;
}

// x a column of L values ([L, 1] per example); a row of D values (one vector per example).
static bool column(const IrNode *x, int64_t L) {
  return x->batched && x->dt == DT_F32 && x->shape.rank == 2 && x->shape.dim[0] == L && x->shape.dim[1] == 1;
}
static bool row(const IrNode *x, int64_t D) {
  return x->batched && x->dt == DT_F32 && shape_numel64(x->shape) == D && x->shape.dim[x->shape.rank - 1] == D;
}

// rows = (vec * c1) * c2 with c1, c2 columns (a weighted list's rows: the pooled
// gradient, masked, times each row's weight) becomes (c1 * c2) * vec, the columns'
// product a new node, so it factors as below. With a 0/1 mask as c1 the values are
// the same.
static void factor_columns(Graph *g, IrNode *r, int64_t L, int64_t D, const int *uses) {
  for (int k = 0; k < 2; k++) {
    IrNode *c2 = r->in[k], *m = r->in[1 - k];
    if (!column(c2, L) || m->op != OP_MUL || uses[m->id] != 1) continue;
    for (int j = 0; j < 2; j++) {
      IrNode *c1 = m->in[j], *v = m->in[1 - j];
      if (!column(c1, L) || !row(v, D)) continue;
      IrNode attrs = {.is_grad = r->is_grad}, *ops[2] = {c1, c2};
      const char *err = NULL;
      IrNode *c = ir_add(g, OP_MUL, ops, 2, &attrs, r->loc, &err);
      if (!c) die("factoring a weighted lookup's rows: %s", err);
      c->scope = r->scope;
      r->in[k] = c, r->in[1 - k] = v;
      return;
    }
  }
}

void ir_factor_sparse_rows(Graph *g) {
  int *uses = calloc((size_t)g->nodes.len + 1, sizeof *uses);
  if (!uses) die("out of memory factoring sparse rows");
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    for (int k = 0; k < n->nin; k++) uses[n->in[k]->id]++;
  }
  for (int i = 0; i < g->sparse.len; i++) {
    SparseGrad *s = g->sparse.items[i];
    IrNode *r = s->rows;
    int64_t L = shape_numel64(s->ids->shape), D = s->param->shape.dim[1];
    if (r->op != OP_MUL || uses[r->id] || !r->batched || r->dt != DT_F32 || r->shape.rank != 2 || L < 2 ||
        r->shape.dim[0] != L || r->shape.dim[1] != D)
      continue;
    factor_columns(g, r, L, D, uses);
    for (int k = 0; k < 2; k++) {
      IrNode *c = r->in[k], *v = r->in[1 - k];
      IrNode *cu = unviewed(c), *vu = unviewed(v);
      bool computed = cu->op != OP_INPUT && cu->op != OP_PARAM && cu->op != OP_CONST && vu->op != OP_INPUT &&
                      vu->op != OP_PARAM && vu->op != OP_CONST;
      if (column(c, L) && row(v, D) && computed) {
        s->coef = cu, s->vec = vu, s->rows = NULL;
        break;
      }
    }
  }
  free(uses);
}
