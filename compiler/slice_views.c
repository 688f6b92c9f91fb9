// slice_views.c: a slice of a value's last axis that only GEMMs and bias sums read
// is read in place, not copied. Requires: the kernel lists after fusion and
// slices.c (fuse.c calls it last); marks such slices as views (l->view) and removes
// their kernels. plan.c places a slice view at its operand's buffer plus its start,
// and lowered_describe gives its readers DmcKShape.ld, its operand's row length.
// A recurrent layer's gradient kernel writes every step's gate and state gradients
// as one [t, DMC_GRU_ROW(n)] row (runtime/kernels.h), which its weight gradients and
// the input's gradient read as slices: DIEN copied four [B, 50, 96] and [B, 50, 32]
// slices a training step.
// A slice is placed when
//  - it is a batched slice along the last axis of a workspace value computed
//    densely (not a view, not written in a concat's slice), in a kernel of its own;
//  - it is not an output, the loss, a gradient or table-row gradient, nor written in
//    a concat (the runtime and the concat's readers read those densely);
//  - every kernel that reads it reads its rows through a GEMM (runtime/kernels_impl.h):
//    matmul_tn's operands, matmul's and matmul_nt's left one, a fused program's
//    matmul head's left one when no other step reads it; or sums it to its last axis
//    (sum_to, a bias's gradient). A view (a reshape) of it is not.
#include "fuse.h"

static bool reads_rows(const Lowered *l, IrNode *k, int j, IrNode *s) {
  Fused *f = l->fused[k->id];
  if (f) {
    const DmcStep *st = f->step;
    if ((st[0].op != DMC_OP_MATMUL && st[0].op != DMC_OP_MATMUL_NT) || st[0].a != j || st[0].b == j) return false;
    for (int i = 1; i < f->nstep; i++)
      if (st[i].op != DMC_OP_CONST && (st[i].a == j || (st[i].b == j && st[i].op != DMC_OP_DROPMASK))) return false;
    return true;
  }
  switch (k->op) {
  case OP_MATMUL_TN: return true;
  case OP_MATMUL: case OP_MATMUL_NT: return j == 0 && k->in[1] != s;
  case OP_SUM_TO:
    return !k->batched && k->shape.rank == 1 && k->shape.dim[0] == s->shape.dim[s->shape.rank - 1];
  default: return false;
  }
}

void place_slice_views(Lowered *l) {
  Graph *g = l->g;
  int N = g->nodes.len + 1;
  bool *kernel = arena_alloc(sizeof(bool) * (size_t)N), *ok = arena_alloc(sizeof(bool) * (size_t)N);
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) kernel[((IrNode *)v->items[i])->id] = true;
  }
  bool *pinned = runtime_read(l);
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *s = g->nodes.items[i], *x = s->op == OP_SLICE ? s->in[0] : NULL;
    ok[i] = x && kernel[s->id] && !l->fused[s->id] && !pinned[s->id] && s->batched && x->batched &&
            s->dt == DT_F32 && s->axis == s->shape.rank - 1 && l->buf[x->id].kind == BUF_WORK && !l->view[x->id] &&
            !l->into[x->id] && !l->into[s->id];
  }
  for (int i = 0; i < g->nodes.len; i++) {   // a view read under another shape
    IrNode *r = g->nodes.items[i];
    if (l->view[i]) ok[r->in[0]->id] = false;
  }
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *k = v->items[i], *const *ops;
      int nin = kernel_args(l, k, &ops);
      for (int j = 0; j < nin; j++)
        if (ok[ops[j]->id] && !reads_rows(l, k, j, ops[j])) ok[ops[j]->id] = false;
    }
  }
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    int kept = 0;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      if (ok[n->id]) l->view[n->id] = true;
      else v->items[kept++] = n;
    }
    v->len = kept;
  }
}
