// prepare.c: the forward kernels whose values come from the parameters alone
// (DIN's attention weight blocks, split_matmul.c: slices of W, their sum and
// difference, a concat of blocks) run first, as the forward's prepared part.
// A program runs that part only when the parameters may have changed since its
// last forward on the same workspace (runtime/kernels.c, dmc_params_stale): in
// inference they are the same from call to call, and these kernels were 13% of
// DIN's batch-1 latency. Requires: fused kernel lists (fuse.c); sets l->nprep,
// moves those kernels to the front of l->forward (they read nothing the others
// write, so any order of theirs before the rest is valid) and marks the values
// that must survive between calls (plan.c keeps them to the end).
#include "fuse.h"

// A parameter the runtime does not change in a forward pass (running statistics do).
static bool fixed_param(const Lowered *l, IrNode *x) {
  return l->buf[x->id].kind == BUF_PARAM && !((const Param *)x->ref)->is_stat;
}

// Kernel n reads only parameters, constants and prepared values, and depends on
// nothing else of a call (its batch size, seed, or whether it trains).
static bool from_params(const Lowered *l, IrNode *n, const bool *prep) {
  if (n->batched || concat_home(l, n) != n) return false;
  Fused *f = l->fused[n->id];
  for (int s = 0; s < (f ? f->nstep : 1); s++) {
    int op = f ? f->member[s]->op : n->op;
    if (op == OP_SEED || op == OP_DROPMASK) return false;
  }
  IrNode *const *ops;
  int nin = kernel_operands(l, n, &ops);
  for (int k = 0; k < nin; k++) {
    IrNode *x = view_root(l, ops[k]);
    if (!fixed_param(l, x) && !(l->buf[x->id].kind == BUF_WORK && prep[x->id])) return false;
  }
  return true;
}

void order_prepared(Lowered *l) {
  int N = l->g->nodes.len + 1;
  bool *prep = arena_alloc(sizeof(bool) * (size_t)N);
  l->kept = arena_alloc(sizeof(bool) * (size_t)N);
  Vec first = {0}, rest = {0};
  for (int i = 0; i < l->forward.len; i++) {
    IrNode *n = l->forward.items[i];
    if (!from_params(l, n, prep)) {
      vec_push(&rest, n);
      continue;
    }
    vec_push(&first, n);
    prep[n->id] = true;
    IrNode *const *st;
    for (int k = kernel_stores(l, n, &st) - 1; k >= 0; k--) prep[st[k]->id] = true;
  }
  // the prepared values a later kernel reads (the others are a prepared kernel's own business)
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &rest;
    for (int i = 0; i < v->len; i++) {
      IrNode *const *ops;
      int nin = kernel_operands(l, v->items[i], &ops);
      for (int k = 0; k < nin; k++)
        if (prep[view_root(l, ops[k])->id]) l->kept[view_root(l, ops[k])->id] = true;
    }
  }
  l->nprep = first.len;
  for (int i = 0; i < rest.len; i++) vec_push(&first, rest.items[i]);
  l->forward = first;
}
