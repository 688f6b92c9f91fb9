// interp.c: the reference interpreter. Every node gets its own buffer (double
// for values, int32 for ids), nodes run in order through the double-precision
// kernels. Slow and simple on purpose: it is the oracle for gradient checks
// and for the generated programs, not a way to train.
#include "dmc.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"

struct Interp {
  Graph *g;
  int batch;
  void **buf;   // by node id
};

void kernel_describe(const IrNode *n, DmcKernel *k) {
  memset(k, 0, sizeof *k);
  k->op = (int)n->op;
  k->out.rank = n->shape.rank;
  memcpy(k->out.dim, n->shape.dim, sizeof k->out.dim);
  k->out.batched = n->batched;
  k->out.is_ids = n->dt == DT_I32;
  k->nin = n->nin;
  for (int i = 0; i < n->nin; i++) {
    k->in[i].rank = n->in[i]->shape.rank;
    memcpy(k->in[i].dim, n->in[i]->shape.dim, sizeof k->in[i].dim);
    k->in[i].batched = n->in[i]->batched;
    k->in[i].is_ids = n->in[i]->dt == DT_I32;
  }
  k->axis = n->axis;
  k->start = n->start;
  k->len = n->len;
  k->fval = n->fval;
}

Interp *interp_new(Graph *g, int batch) {
  Interp *it = calloc(1, sizeof *it);
  it->g = g;
  it->batch = batch;
  it->buf = calloc((size_t)g->nodes.len, sizeof(void *));
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    size_t elems = (size_t)shape_numel(n->shape) * (size_t)(n->batched ? batch : 1);
    it->buf[i] = calloc(elems ? elems : 1, n->dt == DT_I32 ? sizeof(int32_t) : sizeof(double));
  }
  return it;
}

void *interp_buffer(Interp *it, IrNode *n) { return it->buf[n->id]; }

void interp_run(Interp *it, bool training) {
  for (int i = 0; i < it->g->nodes.len; i++) {
    IrNode *n = it->g->nodes.items[i];
    if (n->op == OP_INPUT || n->op == OP_PARAM) continue;
    DmcKernel k;
    kernel_describe(n, &k);
    const void *in[MAX_IN];
    for (int j = 0; j < n->nin; j++) in[j] = it->buf[n->in[j]->id];
    dmc_kernel_f64(&k, it->batch, it->buf[i], in, 12345, training);
  }
}

void interp_free(Interp *it) {
  if (!it) return;
  for (int i = 0; i < it->g->nodes.len; i++) free(it->buf[i]);
  free(it->buf);
  free(it);
}
