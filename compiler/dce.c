// dce.c: dead code elimination. Keeps what reaches an output or a loss (and the
// leaves every program needs), renumbers survivors in their original order so
// printed ids stay stable. Roots: outputs, losses and, after autodiff, the
// total loss and every gradient. Requires: nodes in topological order. Keeps it.
#include "dmc.h"

void ir_dce(Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) ((IrNode *)g->nodes.items[i])->live = false;
  for (int i = 0; i < g->outputs.len; i++) ((Output *)g->outputs.items[i])->node->live = true;
  for (int i = 0; i < g->losses.len; i++) ((Output *)g->losses.items[i])->node->live = true;
  if (g->total_loss) g->total_loss->live = true;
  for (int i = 0; i < g->grads.len; i++)
    if (g->grads.items[i]) ((IrNode *)g->grads.items[i])->live = true;
  for (int i = 0; i < g->sparse.len; i++) ((SparseGrad *)g->sparse.items[i])->rows->live = true;
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
