// merge_matmul.c: dense layers of one operand, side by side in a concat, are one
// dense layer whose weight and bias are the concats of theirs:
//   concat(x W1 + b1, x W2 + b2, x W3 + b3) = x [W1 W2 W3] + [b1 b2 b3],
// the GRU's three input projections (stdlib/rnn.model) as one GEMM three times as
// wide, with no concat of [t, 3n] values to copy. The weights' concat is a value of
// the parameters alone, which an inference program computes once (prepare.c). It
// runs before autodiff, as split_matmul.c does, so the backward gains too (one
// matmul_nt, one matmul_tn); the parameters and the signature stay the model's.
#include "dmc.h"

#include <stdlib.h>

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

void ir_merge_concat_matmuls(Graph *g) {
  int n = g->nodes.len, *readers = ir_readers(g);
  IrNode **repl = calloc((size_t)n + 1, sizeof *repl);
  int *added_from = calloc((size_t)n + 1, sizeof *added_from);   // nodes appended before each rewrite
  if (!repl || !added_from) die("out of memory merging matmuls");
  for (int i = 0; i < n; i++) {
    IrNode *c = g->nodes.items[i];
    for (int k = 0; k < c->nin; k++) c->in[k] = ir_kept(repl, n, c->in[k]);
    added_from[i] = g->nodes.len;
    if (c->op != OP_CONCAT || c->axis != c->shape.rank - 1 || c->nin < 2) continue;
    IrNode *x = NULL, *ws[MAX_IN], *bs[MAX_IN];
    int biased = 0, ok = 1;
    for (int k = 0; ok && k < c->nin; k++) {
      IrNode *xk;
      ok = dense_part(readers, c->in[k], &xk, &ws[k], &bs[k]) && (!k || xk == x);
      x = xk, biased += bs[k] != NULL;
    }
    if (!ok || (biased && biased != c->nin)) continue;
    const char *err = NULL;
    IrNode wa = {.axis = 1}, ba = {.axis = 0}, *w = ir_add(g, OP_CONCAT, ws, c->nin, &wa, c->loc, &err), *in[2] = {x, w};
    IrNode *v = w ? ir_add(g, OP_MATMUL, in, 2, NULL, c->loc, &err) : NULL;
    if (v && biased) {
      IrNode *b = ir_add(g, OP_CONCAT, bs, c->nin, &ba, c->loc, &err), *sum[2] = {v, b};
      v = b ? ir_add(g, OP_ADD, sum, 2, NULL, c->loc, &err) : NULL;
    }
    if (!v) die("merging matmuls: %s", err);
    for (int j = added_from[i]; j < g->nodes.len; j++) ((IrNode *)g->nodes.items[j])->scope = c->scope;
    repl[c->id] = v;
  }
  ir_redirect(g, repl, n);
  ir_place_appended(g, n, added_from);   // each rewrite's nodes go right before the concat they replace
  free(repl), free(added_from), free(readers);
}
