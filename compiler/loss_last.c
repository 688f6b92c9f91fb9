// loss_last.c: the forward kernels that only the losses read run last, after
// every kernel an output needs, so that a call that only scores (DmcCtx.loss
// NULL: predict, serving, `PROG bench`'s inference) stops before them. A model's
// loss is usually one small kernel, but some compute whole networks for it:
// DRN's target runs the Q-network twice more on the next state, DIEN's
// auxiliary loss scores every step of the history against a negative. The
// order stays valid: a kernel an output needs reads nothing only a loss needs,
// and each group keeps its own order. The prepared kernels (prepare.c) stay
// first and always run, since their stamp says they did. Sets l->nscore.
#include "fuse.h"

// Whether x, or a concat it is written into, is needed.
static bool needed(const Lowered *l, const bool *need, IrNode *x) {
  for (; x; x = l->into ? l->into[x->id] : NULL)
    if (need[x->id]) return true;
  return false;
}

static void mark(const Lowered *l, bool *need, IrNode *x) {
  if (x) need[view_root(l, x)->id] = true;
}

void order_loss_last(Lowered *l) {
  Graph *g = l->g;
  bool *need = arena_alloc(sizeof(bool) * (size_t)(g->nodes.len + 1));
  for (int i = 0; i < g->outputs.len; i++) mark(l, need, ((Output *)g->outputs.items[i])->node);
  mark(l, need, g->heldout_pred);
  mark(l, need, g->retrieve_user);
  bool *keep = arena_alloc(sizeof(bool) * (size_t)(l->forward.len + 1));
  for (int i = l->forward.len - 1; i >= l->nprep; i--) {
    IrNode *n = l->forward.items[i], *const *st;
    keep[i] = needed(l, need, n);
    for (int k = kernel_stores(l, n, &st) - 1; k >= 0 && !keep[i]; k--) keep[i] = needed(l, need, st[k]);
    if (!keep[i]) continue;
    IrNode *const *ops;
    for (int k = kernel_operands(l, n, &ops) - 1; k >= 0; k--) mark(l, need, ops[k]);
  }
  Vec order = {0}, losses = {0};
  for (int i = 0; i < l->forward.len; i++) vec_push(i < l->nprep || keep[i] ? &order : &losses, l->forward.items[i]);
  l->nscore = order.len;
  for (int i = 0; i < losses.len; i++) vec_push(&order, losses.items[i]);
  l->forward = order;
}
