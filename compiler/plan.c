// plan.c: memory planning. Places every workspace value by liveness, so values
// whose lives do not overlap share memory. Requires: the Lowered kernel order
// (forward, then backward) and BUF_WORK buffers; sets their fixed / per_row
// places and the workspace size. Unbatched values and batched ones (whose size is
// per_row * B) are two pools, each a first-fit free list; a value's memory is
// taken before its operands' is released, so no kernel writes over its own input
// (the kernels are not in-place safe). Outputs, the total loss, gradients and
// table-row gradients live to the end: the runtime reads them after the kernels.
// Sizes are rounded to 16 floats, so every buffer is 64-byte aligned for any B.
// A parameter's gradient that is a kernel's own result is computed in the
// gradient block (BUF_GRAD), where the runtime reads it, and takes no workspace:
// copying it there cost a pass over every dense weight a step (autorec's 24 MB).
// A program with prepared values (prepare.c) keeps those a later kernel reads to
// the end, and starts its workspace with the stamp that says for which
// parameters they were computed.
// A kernel reads its operands (a fused kernel's, fuse.h); a view (a reshape) is
// its root's buffer, which lives until the view's last reader. A value written in
// a concat's slice (slices.c) is the concat's buffer at an offset: the concat's
// memory is taken when its first producer runs and lives until its last reader.
#include "fuse.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t off, size;
} Block;

typedef struct {
  Block *free;
  int nfree, cap;
  int64_t top;   // the pool's size so far
} Pool;

static int64_t take(Pool *p, int64_t size) {
  for (int i = 0; i < p->nfree; i++) {
    if (p->free[i].size < size) continue;
    int64_t off = p->free[i].off;
    p->free[i].off += size;
    p->free[i].size -= size;
    if (!p->free[i].size) memmove(&p->free[i], &p->free[i + 1], sizeof(Block) * (size_t)(--p->nfree - i));
    return off;
  }
  if (p->nfree && p->free[p->nfree - 1].off + p->free[p->nfree - 1].size == p->top) {   // grow the last hole
    int64_t off = p->free[--p->nfree].off;
    p->top = off + size;
    return off;
  }
  int64_t off = p->top;
  p->top += size;
  return off;
}

// Returns a block, kept sorted by offset and coalesced with its neighbours.
static void give(Pool *p, int64_t off, int64_t size) {
  if (p->nfree == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->free = realloc(p->free, sizeof(Block) * (size_t)p->cap);
    if (!p->free) die("out of memory planning the workspace");
  }
  int i = 0;
  while (i < p->nfree && p->free[i].off < off) i++;
  memmove(&p->free[i + 1], &p->free[i], sizeof(Block) * (size_t)(p->nfree - i));
  p->free[i] = (Block){off, size};
  p->nfree++;
  if (i + 1 < p->nfree && p->free[i].off + p->free[i].size == p->free[i + 1].off) {
    p->free[i].size += p->free[i + 1].size;
    memmove(&p->free[i + 1], &p->free[i + 2], sizeof(Block) * (size_t)(--p->nfree - i - 1));
  }
  if (i > 0 && p->free[i - 1].off + p->free[i - 1].size == p->free[i].off) {
    p->free[i - 1].size += p->free[i].size;
    memmove(&p->free[i], &p->free[i + 1], sizeof(Block) * (size_t)(--p->nfree - i));
  }
}

static int64_t rounded(IrNode *n) { return (shape_numel(n->shape) + 15) / 16 * 16; }

// The value whose memory holds what kernel n reads as operand x; NULL when x is
// already in n's own buffer (a concat's operand written in its slice).
static IrNode *held_in(const Lowered *l, IrNode *n, IrNode *x) {
  return in_slice(l, n, x) ? NULL : concat_home(l, view_root(l, x));
}

// Parameter i's gradient gn goes straight into the gradient block unless its memory
// is another value's too (a view, a concat or its slice) or something else reads it
// after the kernels (an output, the loss, a sparse step, another parameter's gradient).
static void place_grads(Lowered *l) {
  Graph *g = l->g;
  int *claims = calloc((size_t)g->nodes.len + 1, sizeof *claims);
  if (!claims) die("out of memory planning the gradients");
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *h = concat_home(l, g->nodes.items[i]);
    if (h != g->nodes.items[i]) claims[h->id] += 2;   // a concat: its slices are other values
  }
  for (int i = 0; i < g->grads.len; i++)
    if (g->grads.items[i]) claims[((IrNode *)g->grads.items[i])->id]++;
  for (int i = 0; i < g->outputs.len; i++) claims[view_root(l, ((Output *)g->outputs.items[i])->node)->id] += 2;
  if (g->total_loss) claims[view_root(l, g->total_loss)->id] += 2;
  for (int i = 0; i < g->sparse.len; i++) {
    IrNode *read[2];
    for (int k = sparse_grad_nodes(g->sparse.items[i], read) - 1; k >= 0; k--) claims[view_root(l, read[k])->id] += 2;
  }
  for (int i = 0; i < g->grads.len; i++) {
    IrNode *gn = g->grads.items[i];
    if (!gn || claims[gn->id] != 1 || l->view[gn->id] || concat_home(l, gn) != gn || gn->batched ||
        gn->dt != DT_F32 || l->buf[gn->id].kind != BUF_WORK)
      continue;
    l->buf[gn->id] = (Buf){BUF_GRAD, l->param_offset[i], 0, 0};
  }
  free(claims);
}

static void release(Pool *fixed, Pool *rows, const Lowered *l, IrNode *n) {
  if (n->batched) give(rows, l->buf[n->id].per_row, rounded(n));
  else give(fixed, l->buf[n->id].fixed, rounded(n));
}

void plan_memory(Lowered *l) {
  Graph *g = l->g;
  int total = l->forward.len + l->backward.len;
  IrNode **order = malloc(sizeof(IrNode *) * (size_t)(total + 1));
  int *last = malloc(sizeof(int) * (size_t)(g->nodes.len + 1));
  bool *taken = calloc((size_t)(g->nodes.len + 1), sizeof(bool));
  for (int i = 0; i < l->forward.len; i++) order[i] = l->forward.items[i];
  for (int i = 0; i < l->backward.len; i++) order[l->forward.len + i] = l->backward.items[i];
  for (int i = 0; i < g->nodes.len; i++) last[i] = -1;
  for (int t = 0; t < total; t++) {
    IrNode *h = concat_home(l, order[t]);
    last[h->id] = t > last[h->id] ? t : last[h->id];
    IrNode *const *ops;
    int nin = kernel_operands(l, order[t], &ops);
    for (int k = 0; k < nin; k++)
      if (held_in(l, order[t], ops[k])) last[held_in(l, order[t], ops[k])->id] = t;
  }
  const int end = total;   // read by the runtime after every kernel (never in a concat: slices.c)
  for (int i = 0; i < g->outputs.len; i++) last[view_root(l, ((Output *)g->outputs.items[i])->node)->id] = end;
  if (g->total_loss) last[view_root(l, g->total_loss)->id] = end;
  for (int i = 0; i < g->grads.len; i++)
    if (g->grads.items[i]) last[view_root(l, g->grads.items[i])->id] = end;
  for (int i = 0; i < g->sparse.len; i++) {
    IrNode *read[2];
    for (int k = sparse_grad_nodes(g->sparse.items[i], read) - 1; k >= 0; k--) last[view_root(l, read[k])->id] = end;
  }
  for (int i = 0; l->kept && i < g->nodes.len; i++)   // prepared values read between calls (prepare.c)
    if (l->kept[i]) last[i] = end;
  place_grads(l);

  Pool fixed = {0}, rows = {0};
  if (l->nprep) take(&fixed, DMC_STAMP_FLOATS);   // the workspace's first floats: its stamp (kernels.h)
  for (int t = 0; t < total; t++) {
    IrNode *n = order[t];
    IrNode *const *st;
    int nst = kernel_stores(l, n, &st);
    for (int k = -1; k < nst; k++) {   // its output (or its concat's), and the members a fused kernel stores
      IrNode *w = concat_home(l, k < 0 ? n : st[k]);
      if (taken[w->id] || l->buf[w->id].kind == BUF_GRAD) continue;
      taken[w->id] = true;
      if (w->batched) l->buf[w->id].per_row = take(&rows, rounded(w));
      else l->buf[w->id].fixed = take(&fixed, rounded(w));
    }
    IrNode *const *ops;
    int nin = kernel_operands(l, n, &ops);
    for (int k = 0; k < nin; k++) {   // operands whose last reader this is
      IrNode *in = held_in(l, n, ops[k]);
      bool again = false;
      for (int j = 0; j < k; j++) again |= held_in(l, n, ops[j]) == in;
      if (!in || l->buf[in->id].kind != BUF_WORK || last[in->id] != t || again) continue;
      release(&fixed, &rows, l, in);
    }
    IrNode *h = concat_home(l, n);
    if (last[h->id] == t) release(&fixed, &rows, l, h);   // computed and never read (kept by DCE for a side effect)
    for (int k = 0; k < nst; k++)
      if (last[st[k]->id] < t) release(&fixed, &rows, l, st[k]);   // stored and never read
  }
  // unbatched values first, then the batched ones: a batched place is fixed + per_row * B
  for (int i = 0; i < g->nodes.len; i++) {
    if (!taken[i]) continue;
    IrNode *w = g->nodes.items[i];
    if (w->batched) l->buf[i].fixed = fixed.top;
    else l->buf[i].per_row = 0;
  }
  for (int i = 0; i < g->nodes.len; i++) {   // a value in a concat's slice is the concat's buffer, further on
    IrNode *w = g->nodes.items[i], *h = concat_home(l, w);
    if (h == w) continue;
    l->buf[i] = l->buf[h->id];
    l->buf[i].fixed += concat_offset(l, w);
  }
  for (int i = 0; i < g->nodes.len; i++) {   // a view is its root's buffer; a slice's, from its start
    IrNode *w = g->nodes.items[i];
    if (!l->view[i]) continue;
    l->buf[i] = l->buf[view_root(l, w)->id];
    if (w->op == OP_SLICE) l->buf[i].fixed += w->start;
  }
  l->ws_fixed = fixed.top;
  l->ws_per_row = rows.top;
  free(fixed.free), free(rows.free), free(order), free(last), free(taken);
}
