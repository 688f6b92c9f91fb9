// slices.c: producers write straight into the slices of a concat. Requires: the
// kernel lists after fusion (fuse.c calls it last); sets l->into / l->into_at and
// removes the concats left with nothing to copy. plan.c then places a value put in
// a concat inside the concat's buffer, and its kernel writes example b at
// out + b * DmcKernel.ostride (the outermost concat's numel).
// An operand is placed when
//  - it is a batched workspace value computed by a kernel whose op honours
//    ostride (below), read through views or not, by this concat only and once;
//  - its slice of an example is contiguous (the concat's axes before `axis` are 1),
//    or its kernel also writes rows DmcKernel.orow floats long, orstride apart
//    (honours_rows: din_attention's concat along axis 1 of [t, d] gets the rows of
//    the expanded query, of q - k and of q * k from their kernels);
//    not an output, the loss, a gradient or table-row gradient (the runtime reads
//    those densely). Inputs, parameters and shared values are copied.
// A concat placed in another keeps its kernel for the operands it copies, writing
// at the outer stride; a concat whose operands are all placed runs no kernel.
#include "fuse.h"

IrNode *concat_home(const Lowered *l, IrNode *n) {
  while (l->into && l->into[n->id]) n = l->into[n->id];
  return n;
}

int64_t concat_offset(const Lowered *l, IrNode *n) {
  int64_t at = 0;
  for (; l->into && l->into[n->id]; n = l->into[n->id]) at += l->into_at[n->id];
  return at;
}

bool in_slice(const Lowered *l, IrNode *concat, IrNode *operand) {
  return l->into && l->into[view_root(l, operand)->id] == concat;
}

// Kernels that write example b at out + b * ostride (runtime/kernels_impl.h).
static bool honours_ostride(const Lowered *l, IrNode *n) {
  if (l->fused[n->id]) return true;
  switch (n->op) {
  case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MAX: case OP_MIN: case OP_GE: case OP_NEG:
  case OP_EXP: case OP_LOG: case OP_SQRT: case OP_ABS: case OP_SIGMOID: case OP_TANH: case OP_RELU:
  case OP_STEP: case OP_SIGN: case OP_STOPGRAD:   // a one-step fused program
  case OP_GATHER: case OP_SUM: case OP_MEAN: case OP_RMAX: case OP_MATMUL: case OP_CONCAT: case OP_EXPAND:
    return true;
  default:
    return false;
  }
}

// Kernels that also write an example as rows DmcKernel.orow apart (a slice strided
// within an example): elementwise programs without a matmul head or a tail sum,
// gather, expand. The reader of the concat still reads it densely.
static bool honours_rows(const Lowered *l, IrNode *n) {
  Fused *f = l->fused[n->id];
  if (f) {
    int first = f->step[0].op, last = f->step[f->nstep - 1].op;
    return first != DMC_OP_MATMUL && first != DMC_OP_MATMUL_NT && !dmc_pooled_lookup(f->step, f->nstep) &&
           last != DMC_OP_SUM &&
           last != DMC_OP_CONCAT;
  }
  return n->op != OP_MATMUL && n->op != OP_SUM && n->op != OP_MEAN && n->op != OP_RMAX && n->op != OP_CONCAT &&
         honours_ostride(l, n);
}

void concat_rows(const Lowered *l, IrNode *n, int *orow, int *orstride) {
  IrNode *c = l->into ? l->into[n->id] : NULL;
  *orow = *orstride = 0;
  if (!c) return;
  int64_t outer = 1;
  for (int d = 0; d < c->axis; d++) outer *= c->shape.dim[d];
  if (outer == 1) return;
  *orow = (int)(shape_numel(n->shape) / outer);
  *orstride = (int)(shape_numel(c->shape) / outer);
}

static void pin(const Lowered *l, bool *pinned, IrNode *n) {
  if (n) pinned[view_root(l, n)->id] = true;
}

bool *runtime_read(const Lowered *l) {
  Graph *g = l->g;
  bool *pinned = arena_alloc(sizeof(bool) * (size_t)(g->nodes.len + 1));
  for (int i = 0; i < g->outputs.len; i++) pin(l, pinned, ((Output *)g->outputs.items[i])->node);
  pin(l, pinned, g->total_loss);
  for (int i = 0; i < g->grads.len; i++) pin(l, pinned, g->grads.items[i]);
  for (int i = 0; i < g->sparse.len; i++) {
    IrNode *read[2];
    for (int k = sparse_grad_nodes(g->sparse.items[i], read) - 1; k >= 0; k--) pin(l, pinned, read[k]);
  }
  return pinned;
}

static bool all_placed(const Lowered *l, IrNode *c) {
  for (int j = 0; j < c->nin; j++)
    if (!in_slice(l, c, c->in[j])) return false;
  return true;
}

void place_slices(Lowered *l) {
  Graph *g = l->g;
  int N = g->nodes.len + 1;
  l->into = arena_alloc(sizeof(IrNode *) * (size_t)N);
  l->into_at = arena_alloc(sizeof(int64_t) * (size_t)N);
  int *uses = arena_alloc(sizeof(int) * (size_t)N);   // kernel operands, by view root
  bool *kernel = arena_alloc(sizeof(bool) * (size_t)N), *pinned = runtime_read(l);
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i], *const *ops;
      kernel[n->id] = true;
      int nin = kernel_operands(l, n, &ops);
      for (int k = 0; k < nin; k++) uses[view_root(l, ops[k])->id]++;
    }
  }

  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *c = v->items[i];
      if (c->op != OP_CONCAT || !c->batched || l->fused[c->id]) continue;
      int64_t outer = 1, inner = 1, at = 0;
      for (int d = 0; d < c->axis; d++) outer *= c->shape.dim[d];
      for (int d = c->axis + 1; d < c->shape.rank; d++) inner *= c->shape.dim[d];
      for (int j = 0; j < c->nin; j++) {
        IrNode *r = view_root(l, c->in[j]);
        if (l->buf[r->id].kind == BUF_WORK && r->batched && r->dt == DT_F32 && kernel[r->id] &&
            uses[r->id] == 1 && !pinned[r->id] && honours_ostride(l, r) && (outer == 1 || honours_rows(l, r)))
          l->into[r->id] = c, l->into_at[r->id] = at;
        at += c->in[j]->shape.dim[c->axis] * inner;
      }
    }
  }
  for (int pass = 0; pass < 2; pass++) {   // concats with nothing left to copy run no kernel
    Vec *v = pass ? &l->backward : &l->forward;
    int kept = 0;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      if (n->op != OP_CONCAT || l->fused[n->id] || !all_placed(l, n)) v->items[kept++] = n;
    }
    v->len = kept;
  }
}
