// merge_matmul.c: dense layers of one operand, side by side in a concat, are one
// dense layer whose weight and bias are the concats of theirs:
//   concat(x W1 + b1, x W2 + b2, x W3 + b3) = x [W1 W2 W3] + [b1 b2 b3],
// the GRU's three input projections (stdlib/rnn.model) as one GEMM three times as
// wide, with no concat of [t, 3n] values to copy. The weights' concat is a value of
// the parameters alone, which an inference program computes once (prepare.c). It
// runs before autodiff, as split_matmul.c does, so the backward gains too (one
// matmul_nt, one matmul_tn); the parameters and the signature stay the model's.
#include "dmc.h"

// Part p of the concat as x W + b (b NULL: x W alone); false when it is not one,
// or when anything but the concat reads it (it would be computed anyway).
static bool dense_part(const int *readers, IrNode *p, IrNode **x, IrNode **w, IrNode **b) {
  *b = NULL;
  if (readers[p->id] != 1) return false;
  if (p->op == OP_ADD) {
    IrNode *m = p->in[0], *bias = p->in[1];
    int r = p->shape.rank;
    if (bias->batched || bias->shape.rank != 1 || bias->shape.dim[0] != p->shape.dim[r - 1]) return false;
    *b = bias;
    p = m;
    if (readers[p->id] != 1) return false;
  }
  if (p->op != OP_MATMUL || p->in[1]->batched || p->in[1]->shape.rank != 2) return false;
  *x = p->in[0], *w = p->in[1];
  return true;
}

// c as one dense layer, or NULL when it is not a concat of dense layers of one operand.
static IrNode *merged(Graph *g, IrNode *c, const int *readers) {
  if (c->op != OP_CONCAT || c->axis != c->shape.rank - 1 || c->nin < 2) return NULL;
  IrNode *x = NULL, *ws[MAX_IN], *bs[MAX_IN];
  int biased = 0;
  for (int k = 0; k < c->nin; k++) {
    IrNode *xk;
    if (!dense_part(readers, c->in[k], &xk, &ws[k], &bs[k]) || (k && xk != x)) return NULL;
    x = xk, biased += bs[k] != NULL;
  }
  if (biased && biased != c->nin) return NULL;
  const char *err = NULL;
  IrNode wa = {.axis = 1}, ba = {.axis = 0}, *w = ir_add(g, OP_CONCAT, ws, c->nin, &wa, c->loc, &err), *in[2] = {x, w};
  IrNode *v = w ? ir_add(g, OP_MATMUL, in, 2, NULL, c->loc, &err) : NULL;
  if (v && biased) {
    IrNode *b = ir_add(g, OP_CONCAT, bs, c->nin, &ba, c->loc, &err), *sum[2] = {v, b};
    v = b ? ir_add(g, OP_ADD, sum, 2, NULL, c->loc, &err) : NULL;
  }
  if (!v) die("merging matmuls: %s", err);
  return v;
}

void ir_merge_concat_matmuls(Graph *g) { ir_rewrite(g, merged); }
