// lower.c: places every value and orders the kernel calls. Requires: a graph
// after autodiff and dce (verified); with fusion on, runs CSE and DCE on it
// first, so the graph the program computes is the one left in g. Produces the
// Lowered form both backends print: parameters in one block (in declaration
// order, each at a multiple of 16 floats), inputs by first appearance, every
// other node in the workspace at fixed + per_row * B (plan.c shares memory
// between values whose lives do not overlap).
// Forward runs the nodes outside the backward pass, backward the rest.
#include "dmc.h"

#include <stdlib.h>
#include <string.h>

uint64_t ir_signature(Graph *g) {
  // FNV-1a over the graph's text without its training settings: a checkpoint
  // fits any program with the same features, parameters and computation.
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) die("open_memstream");
  ir_print(g, m);
  fclose(m);
  char *train = strstr(text, "\ntrain ");
  size_t n = train ? (size_t)(train - text) : len;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
  free(text);
  return h;
}

void ir_build_training(Graph *g, bool fuse) {
  ir_dce(g);
  g->signature = ir_signature(g);   // before any rewrite: --no-fuse programs read the same checkpoints
  if (fuse) {
    ir_merge_concat_matmuls(g);
    ir_split_concat_matmuls(g);
    ir_dce(g);
  }
  ad_build(g);
  ir_dce(g);
  ir_verify(g);
}

Lowered *lower_graph(Graph *g, bool fuse) {
  Lowered *l = arena_alloc(sizeof *l);
  l->g = g;
  l->signature = g->signature ? g->signature : ir_signature(g);
  if (fuse) {
    ir_cse(g);
    ir_fold_transposes(g);
    ir_sums_to_scalars(g);
    ir_unit_moves_as_reshapes(g);
    ir_forward_broadcasts(g);
    ir_factor_sparse_rows(g);
    ir_dce(g);
  }
  l->buf = arena_alloc(sizeof(Buf) * (size_t)(g->nodes.len + 1));
  l->param_offset = arena_alloc(sizeof(int64_t) * (size_t)(g->params.len + 1));
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    l->param_offset[i] = l->params_size;   // at 16-float boundaries: see rt_floats_new
    l->params_size += (shape_numel(p->shape) + 15) / 16 * 16;
  }
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    Buf *b = &l->buf[i];
    if (n->op == OP_INPUT) {
      b->kind = BUF_INPUT;
      b->index = l->inputs.len;
      vec_push(&l->inputs, n);
    } else if (n->op == OP_PARAM) {
      int pi = 0;
      while (pi < g->params.len && ((Param *)g->params.items[pi])->node != n) pi++;
      if (pi == g->params.len) die("parameter node %%%d has no Param", i);
      b->kind = BUF_PARAM;
      b->index = l->param_offset[pi];
    } else {
      b->kind = BUF_WORK;   // placed by plan_memory, below
      vec_push(n->is_grad ? &l->backward : &l->forward, n);
    }
  }
  fuse_kernels(l, fuse);
  if (fuse) order_prepared(l);
  order_loss_last(l);
  plan_memory(l);
  return l;
}
