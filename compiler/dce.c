// dce.c: dead code elimination. Keeps what reaches an output or a loss (and the
// leaves every program needs), renumbers survivors in their original order so
// printed ids stay stable. Roots: outputs, losses and, after autodiff, the
// total loss and every gradient. Requires: nodes in topological order. Keeps it.
#include "dmc.h"

bool *ir_scoring_nodes(Graph *g) {
  bool *need = arena_alloc(sizeof(bool) * (size_t)(g->nodes.len + 1));
  for (int i = 0; i < g->outputs.len; i++) need[((Output *)g->outputs.items[i])->node->id] = true;
  if (g->heldout_pred) need[g->heldout_pred->id] = true;
  if (g->retrieve_user) need[g->retrieve_user->id] = true;
  for (int i = g->nodes.len - 1; i >= 0; i--) {
    IrNode *n = g->nodes.items[i];
    for (int k = 0; need[n->id] && k < n->nin; k++) need[n->in[k]->id] = true;
  }
  return need;
}

void ir_dce(Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) ((IrNode *)g->nodes.items[i])->live = false;
  for (int i = 0; i < g->outputs.len; i++) ((Output *)g->outputs.items[i])->node->live = true;
  for (int i = 0; i < g->losses.len; i++) ((Output *)g->losses.items[i])->node->live = true;
  if (g->total_loss) g->total_loss->live = true;
  for (int i = 0; i < g->grads.len; i++)
    if (g->grads.items[i]) ((IrNode *)g->grads.items[i])->live = true;
  for (int i = 0; i < g->sparse.len; i++) {
    IrNode *read[2];
    for (int k = sparse_grad_nodes(g->sparse.items[i], read) - 1; k >= 0; k--) read[k]->live = true;
  }
  for (int i = g->nodes.len - 1; i >= 0; i--) {
    IrNode *n = g->nodes.items[i];
    if (!n->live) continue;
    for (int k = 0; k < n->nin; k++) n->in[k]->live = true;
  }
  int out = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (n->live || n->op == OP_PARAM) {   // parameters stay: the checkpoint holds them all
      n->id = out;
      g->nodes.items[out++] = n;
    }
  }
  g->nodes.len = out;
}
