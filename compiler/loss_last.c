// loss_last.c: the forward kernels that only the losses read run last, after
// every kernel an output needs, so that a call that only scores (DmcCtx.loss
// NULL: predict, serving, `PROG bench`'s inference) stops before them. A model's
// loss is usually one small kernel, but some compute whole networks for it:
// DRN's target runs the Q-network twice more on the next state, DIEN's
// auxiliary loss scores every step of the history against a negative. The
// order stays valid: a kernel an output needs reads nothing only a loss needs,
// and each group keeps its own order. What an output needs is decided on the
// graph (ir_scoring_nodes, which --report's scoring FLOPs count too): a concat's
// parts, a view's operand and a fused kernel's stored members are graph nodes
// like any other. The prepared kernels (prepare.c) stay first and always run,
// since their stamp says they did. Sets l->nscore, and l->score_reads for
// store_for_training: a fused kernel stores members that later kernels read,
// often only the backward pass (a sigmoid's value for its gradient), and a call
// that only scores need not write those (ex:din's Dice wrote three [B, 20, 36]
// values it never read).
#include "fuse.h"

void order_loss_last(Lowered *l) {
  bool *need = ir_scoring_nodes(l->g);   // a kernel is needed when its value or a value it stores is
  bool *keep = arena_alloc(sizeof(bool) * (size_t)(l->forward.len + 1));
  for (int i = l->nprep; i < l->forward.len; i++) {
    IrNode *n = l->forward.items[i], *const *st;
    keep[i] = need[n->id];
    for (int k = kernel_stores(l, n, &st) - 1; k >= 0 && !keep[i]; k--) keep[i] = need[st[k]->id];
  }
  Vec order = {0}, losses = {0};
  for (int i = 0; i < l->forward.len; i++) vec_push(i < l->nprep || keep[i] ? &order : &losses, l->forward.items[i]);
  l->nscore = order.len;
  for (int i = 0; i < losses.len; i++) vec_push(&order, losses.items[i]);
  l->forward = order;
  // what a scoring call reads from buffers: the outputs, and the operands of its kernels
  Graph *g = l->g;
  bool *reads = arena_alloc(sizeof(bool) * (size_t)(g->nodes.len + 1));
  for (int i = 0; i < g->outputs.len; i++) reads[view_root(l, ((Output *)g->outputs.items[i])->node)->id] = true;
  if (g->heldout_pred) reads[view_root(l, g->heldout_pred)->id] = true;
  if (g->retrieve_user) reads[view_root(l, g->retrieve_user)->id] = true;
  for (int i = 0; i < l->nscore; i++) {
    IrNode *const *ops;
    for (int k = kernel_operands(l, l->forward.items[i], &ops) - 1; k >= 0; k--) reads[view_root(l, ops[k])->id] = true;
  }
  l->score_reads = reads;
}

bool store_for_training(const Lowered *l, const Vec *v, int i, int k) {
  if (v != &l->forward || i < l->nprep || i >= l->nscore || !l->score_reads) return false;
  IrNode *n = v->items[i], *const *ops, *const *st;
  int nops = kernel_operands(l, n, &ops), nst = kernel_stores(l, n, &st);
  if (k < nops || k >= nops + nst) return false;
  IrNode *s = st[k - nops];
  return !l->score_reads[s->id] && !(l->into && l->into[s->id]);   // (a concat's slice: kept)
}
