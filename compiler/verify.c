// verify.c: structural invariants of the graph, checked between stages. A
// failure here is a compiler bug (die), never a user error: sema has already
// reported everything a user can get wrong.
// Checks: ids are positions; inputs come earlier (topological order); leaves have
// no inputs; arities match the op table; outputs and losses are in the graph.
#include "dmc.h"

void ir_verify(Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    const OpInfo *info = &op_info[n->op];
    if (n->id != i) die("node %d has id %d", i, n->id);
    if (info->kind == OK_LEAF && n->nin) die("leaf %%%d has inputs", i);
    if (info->arity >= 0 && n->nin != info->arity && !(info->kind == OK_REDUCE && n->nin == 2))
      die("%%%d: %s has %d inputs, expected %d", i, info->name, n->nin, info->arity);
    if (n->shape.rank < 0 || n->shape.rank > MAX_RANK) die("%%%d: rank %d", i, n->shape.rank);
    for (int d = 0; d < n->shape.rank; d++)
      if (n->shape.dim[d] <= 0) die("%%%d: dimension %d is %d", i, d, n->shape.dim[d]);
    for (int k = 0; k < n->nin; k++) {
      IrNode *in = n->in[k];
      if (!in || in->id >= i || g->nodes.items[in->id] != in)
        die("%%%d: operand %d is not an earlier node of the graph", i, k);
      if (in->batched && !n->batched && n->op != OP_SUM_TO && n->op != OP_MATMUL_TN) die("%%%d: a batched operand but an unbatched result", i);
    }
  }
  for (int i = 0; i < g->outputs.len; i++) {
    IrNode *n = ((Output *)g->outputs.items[i])->node;
    if (n->id >= g->nodes.len || g->nodes.items[n->id] != n) die("output %d is not in the graph", i);
  }
  for (int i = 0; i < g->losses.len; i++) {
    IrNode *n = ((Output *)g->losses.items[i])->node;
    if (n->id >= g->nodes.len || g->nodes.items[n->id] != n) die("loss %d is not in the graph", i);
    if (n->shape.rank != 0) die("loss %d is not a scalar per example", i);
  }
}
