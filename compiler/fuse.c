// fuse.c: rewrites the lowered kernel list before memory planning (lower.c calls
// it). Requires: Lowered forward/backward lists of nodes; sets l->fused and
// l->view and removes the nodes they absorb from the lists.
//  - Views: a reshape that keeps the batch dimension is its operand's buffer
//    read under another shape, so it costs no kernel and no memory; so is a
//    stop_gradient of a value no chain computes (a softmax's max written out).
//  - Elementwise fusion: a chain of elementwise nodes of one shape (or read
//    through a reshape with as many values: same_values), each read
//    only by the next, becomes one DMC_OP_FUSED kernel (runtime/kernels.h) at
//    the place of its last node; constants read by the chain become steps; a
//    matmul feeding the chain (a dense layer's bias and activation, or the
//    backward's activation gradient) becomes its head, so the epilogue runs on
//    the GEMM's output while it is in cache.
//  - Tail sums: a sum over one axis ends the chain that computes its operand,
//    which then runs in the operand's shape and is never written (an
//    attention's weighted sum, a bilinear score, a softmax's denominator).
//  - Concat programs: a concat of operands of one shape computes the elementwise
//    ones only it reads (and reads an expand's operand broadcast) in one program
//    whose last CONCAT steps write each operand's rows into it (din_attention).
//  - Pooled lookups: a sum or mean over the id axis of an embedding lookup
//    (a list feature's bag), its rows weighted or not (a weighted list's), becomes
//    one kernel that adds the table rows straight into the result, never writing
//    the [L, D] rows in between.
// A node is absorbed if it runs in the same pass and nothing else reads it (no
// other kernel, not an output, loss, gradient or table-row gradient), or if
// everything else that reads it runs after the fused kernel: then its step is
// stored to its own buffer too (a ReLU's output, which the backward pass reads).
// Last, slices.c lets producers write straight into their concat's buffer.
#include "fuse.h"

#include <string.h>

int kernel_operands(const Lowered *l, IrNode *n, IrNode *const **ops) {
  Fused *f = l->fused ? l->fused[n->id] : NULL;
  *ops = f ? f->in : n->in;
  return f ? f->nin : n->nin;
}

int kernel_stores(const Lowered *l, IrNode *n, IrNode *const **st) {
  Fused *f = l->fused ? l->fused[n->id] : NULL;
  *st = f ? f->in + f->nin : NULL;
  return f ? f->nstore : 0;
}

int kernel_args(const Lowered *l, IrNode *n, IrNode *const **args) {
  IrNode *const *st;
  return kernel_operands(l, n, args) + kernel_stores(l, n, &st);
}

IrNode *view_root(const Lowered *l, IrNode *n) {
  while (l->view && l->view[n->id]) n = n->in[0];
  return n;
}

// A fused kernel's operands and program.
static void fused_describe(IrNode *n, const Fused *f, DmcKernel *k) {
  k->op = DMC_OP_FUSED;
  k->nin = f->nin;
  for (int i = 0; i < f->nin; i++) {
    IrNode *x = f->in[i];
    memset(&k->in[i], 0, sizeof k->in[i]);
    k->in[i].rank = x->shape.rank;
    memcpy(k->in[i].dim, x->shape.dim, sizeof k->in[i].dim);
    k->in[i].batched = x->batched;
    k->in[i].is_ids = x->dt == DT_I32;
  }
  k->nstep = f->nstep;
  k->step = f->step;
  if (k->step[k->nstep - 1].op == DMC_OP_CONCAT) k->len = n->in[0]->shape.dim[n->axis];   // the operands' rows
  if (dmc_pooled_lookup(k->step, k->nstep)) k->axis = n->op == OP_SUM && n->axis == 1;   // each row summed (1) or the rows (0)
  else if (k->step[k->nstep - 1].op == DMC_OP_SUM) {   // a tail sum: the steps summed
    k->axis = n->op == OP_SUM_TO || n->axis == DMC_AXIS_ALL ? 0 : n->axis;
    k->len = n->in[0]->shape.dim[k->axis];
  }
}

void lowered_describe(const Lowered *l, IrNode *n, DmcKernel *k) {
  Fused *f = l->fused ? l->fused[n->id] : NULL;
  kernel_describe(n, k);
  IrNode *home = concat_home(l, n);
  if (home != n) k->ostride = (int)shape_numel(home->shape);
  concat_rows(l, n, &k->orow, &k->orstride);
  if (f) fused_describe(n, f, k);
  IrNode *const *ops;
  int nin = kernel_operands(l, n, &ops);
  for (int j = 0; j < nin; j++)   // a slice read in place: its operand's rows (slice_views.c)
    if (l->view && l->view[ops[j]->id] && ops[j]->op == OP_SLICE)
      k->in[j].ld = ops[j]->in[0]->shape.dim[ops[j]->shape.rank - 1];
}

static bool same_shape(const IrNode *a, const IrNode *b) {
  if (a->batched != b->batched || a->shape.rank != b->shape.rank) return false;
  for (int i = 0; i < a->shape.rank; i++)
    if (a->shape.dim[i] != b->shape.dim[i]) return false;
  return true;
}

// Ops a fused program can run (runtime/kernels_impl.h: step_run). A dropout mask is
// a function of its element's index in the batch, which a program knows (so the
// mask costs no pass of its own, and in inference no buffer read back); id masks
// read ids.
static bool fusable(const IrNode *n) {
  if (n->dt != DT_F32 || op_info[n->op].kind != OK_ELEMWISE) return false;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->dt != DT_F32) return false;
  return n->op != OP_MASK;
}

// A matmul by one weight matrix over batched rows (read transposed for
// matmul_nt, the backward's): the shape the head runs.
static bool head_matmul(const IrNode *n) {
  return (n->op == OP_MATMUL || n->op == OP_MATMUL_NT) && n->in[0]->batched && !n->in[1]->batched &&
         n->in[1]->shape.rank == 2;
}

// A sum_to of an example's [t, ..] onto its trailing axes [..] (the gradient of a
// vector broadcast against t rows: a sampled softmax's user vector, an attention's
// query): the sum over axis 0, unmasked.
static bool sums_leading_axis(const IrNode *n) {
  const IrNode *x = n->in[0];
  if (n->op != OP_SUM_TO || !n->batched || !x->batched || x->dt != DT_F32 || x->shape.rank != n->shape.rank + 1 ||
      x->shape.dim[0] < 2)
    return false;
  for (int d = 0; d < n->shape.rank; d++)
    if (x->shape.dim[d + 1] != n->shape.dim[d]) return false;
  return true;
}

// A sum over one axis (masked: the steps of axis 0; all of a vector: its axis 0):
// the tail of a program that runs in its operand's shape (an attention's weighted
// sum, a bilinear score, a softmax's denominator, a dot product). Not over one
// step (sum(dense(x, 1))): that would cost a matmul head its epilogue.
static bool tail_sum(const IrNode *n) {
  if (n->op == OP_SUM_TO) return sums_leading_axis(n);
  if (n->op != OP_SUM || !n->batched || n->in[0]->dt != DT_F32) return false;
  if (n->axis == DMC_AXIS_ALL) return n->nin == 1 && n->in[0]->shape.rank == 1 && n->in[0]->shape.dim[0] > 1;
  return n->in[0]->shape.dim[n->axis] > 1 &&
         (n->nin == 1 || (n->axis == 0 && n->in[1]->batched && n->in[1]->dt == DT_F32));
}

// A lookup a program reads can be recomputed there: a GATHER step reads the table
// rows itself instead of a gather kernel writing them [t, D] for the program to read
// back. A sampled softmax's 500 rows of 64 an example were gathered once (65 MB a
// batch of 512) and read for the logits and again in the backward pass. A program
// in any pass may recompute it (the table and the ids do not change within a step);
// the gather kernel goes when every reader does (fuse_pass). It pays when the
// gathered rows would not stay in cache (at least RECOMPUTE_MIN_VALUES an example:
// 64 examples fill a 1 MiB L2) and the table would (at most RECOMPUTE_TABLE_BYTES),
// as its rows are read again at random where the gathered ones stream. Smaller
// lookups (DIN's [20, 16] history, MLR's [12]) were 1-7% slower recomputed.
#define RECOMPUTE_MIN_VALUES 4096
#define RECOMPUTE_TABLE_BYTES (4 << 20)
static bool recomputable(const IrNode *g) {
  if (g->op != OP_GATHER) return false;
  const IrNode *t = g->in[0], *ids = g->in[1];
  return t->op == OP_PARAM && !t->batched && t->shape.rank == 2 && ids->op == OP_INPUT && ids->batched &&
         ids->dt == DT_I32 && g->shape.rank == ids->shape.rank + 1 && shape_numel64(g->shape) >= RECOMPUTE_MIN_VALUES &&
         4 * shape_numel64(t->shape) <= RECOMPUTE_TABLE_BYTES;
}

typedef struct {
  const Lowered *l;
  const bool *pinned;
  const bool *absorbed;
  Vec *const *readers;   // by node id: the kernels and views that read it
  const int *pos;        // by node id: place in forward + backward
  IrNode *root;
  const IrNode *shape;   // the shape the members run in: the root's, or a tail sum's operand's
  Fused f;
  int nmember;
  IrNode *member[DMC_KMAX_STEPS];
  bool stored[DMC_KMAX_STEPS];
  int nstore;
  bool head;
} Group;

static bool is_member(Group *gr, IrNode *n) {
  for (int i = 0; i < gr->nmember; i++)
    if (gr->member[i] == n) return true;
  return false;
}

// Readers of n outside the group (through views): 0 if none, 1 if all of them run
// after the group's root, -1 if one runs before it.
static int outside_readers(Group *gr, IrNode *n) {
  Vec *r = gr->readers[n->id];
  int found = 0;
  for (int i = 0; r && i < r->len; i++) {
    IrNode *c = r->items[i];
    if (is_member(gr, c)) continue;
    int later = gr->l->view[c->id] ? outside_readers(gr, c) : gr->pos[c->id] > gr->pos[gr->root->id] ? 1 : -1;
    if (later < 0) return -1;
    found |= later;
  }
  return found;
}

// A member of another shape with as many values, read through a reshape (a dense
// layer's [t, 1] logits masked as [t]): the same values in the same order, so it
// runs in the program's shape when each operand is one value (of no more axes) or
// as many values as the program; a matmul head writes its rows as they are.
static bool same_values(const IrNode *p, const IrNode *shape) {
  int64_t n = shape_numel(shape->shape);
  if (p->batched != shape->batched || shape_numel(p->shape) != n) return false;
  if (head_matmul(p)) return true;
  for (int i = 0; i < p->nin; i++) {
    int64_t k = shape_numel(p->in[i]->shape);
    if (k != n && (k != 1 || p->in[i]->shape.rank > shape->shape.rank)) return false;
  }
  return true;
}

// A lookup that only this program reads runs in it as a GATHER step, as many values
// as the program's in the same order (a [1] lookup in a program of []): the rows go
// into the program's blocks, not through a gather kernel's output (criteo_lr: 26
// lookups of one value each, 26 kernels of a 31-kernel forward pass).
static bool own_lookup(Group *gr, IrNode *p) {
  const IrNode *t = p->in[0], *ids = p->in[1];
  return p->op == OP_GATHER && t->op == OP_PARAM && !t->batched && t->shape.rank == 2 && ids->batched &&
         ids->dt == DT_I32 && p->batched && gr->shape->batched && p->dt == DT_F32 &&
         shape_numel(p->shape) == shape_numel(gr->shape->shape) && p->is_grad == gr->root->is_grad &&
         gr->l->buf[p->id].kind == BUF_WORK && !gr->l->view[p->id] && !gr->pinned[p->id] &&
         gr->nmember + 1 < DMC_KMAX_STEPS && outside_readers(gr, p) == 0;
}

// 0: not absorbed; 1: absorbed; 2: absorbed and stored; 3: recomputed.
static int can_absorb(Group *gr, IrNode *p) {
  if (gr->absorbed[p->id]) return 0;
  if (recomputable(p)) return same_shape(p, gr->shape) && gr->nmember + 1 < DMC_KMAX_STEPS ? 3 : 0;
  if (p->op == OP_GATHER) return own_lookup(gr, p);
  if (p->is_grad != gr->root->is_grad) return 0;
  if (gr->l->buf[p->id].kind != BUF_WORK || gr->l->view[p->id]) return 0;
  if (gr->nmember + 1 >= DMC_KMAX_STEPS) return 0;
  int outside = outside_readers(gr, p);   // the group's own readers are members already
  bool only = outside == 0 && !gr->pinned[p->id];
  if (p->op == OP_CONST) return only;   // one value everywhere: any shape broadcasts
  if (!same_shape(p, gr->shape) && !same_values(p, gr->shape)) return 0;
  if (head_matmul(p)) return only && !gr->head && gr->shape == gr->root;   // it writes the output first
  if (!fusable(p)) return 0;
  return only ? 1 : outside >= 0 ? 2 : 0;
}

// The buffers the group's call would pass if it absorbed `extra`: operands and stores.
static int count_inputs(Group *gr, IrNode *extra) {
  int n = 0;
  IrNode *seen[2 * DMC_KMAX_STEPS * 4];
  for (int m = 0; m <= gr->nmember; m++) {
    IrNode *x = m < gr->nmember ? gr->member[m] : extra;
    if (!x) continue;
    for (int i = 0; i < x->nin; i++) {
      IrNode *q = x->in[i], *r = view_root(gr->l, q);   // a member read through a reshape is no operand (slot_of)
      bool inside = q == extra || r == extra;
      for (int j = 0; j < gr->nmember && !inside; j++) inside = gr->member[j] == q || gr->member[j] == r;
      for (int j = 0; j < n && !inside; j++) inside = seen[j] == q;
      if (!inside) seen[n++] = q;
    }
  }
  return n + gr->nstore;
}

// The lookups p reads that the program could run as steps, were p a member: each
// would cost one operand more than reading its output. A member that leaves no room
// for them ends the program, so that the next one runs them (criteo_lr: a chain
// of adds taking the last operands left its last lookups as kernels of their own).
static int lookups_left(Group *gr, IrNode *p) {
  if (p->op == OP_GATHER || gr->nmember + 1 >= DMC_KMAX_STEPS) return 0;
  int n = 0;
  gr->member[gr->nmember++] = p;
  for (int i = 0; i < p->nin; i++) {
    IrNode *q = view_root(gr->l, p->in[i]);
    n += q->op == OP_GATHER && !is_member(gr, q) && own_lookup(gr, q);
  }
  gr->nmember--;
  return n;
}

static void absorb(Group *gr, IrNode *n, bool store) {
  gr->stored[gr->nmember] = store;
  gr->nstore += store;
  gr->member[gr->nmember++] = n;
  if (head_matmul(n)) {
    gr->head = true;
    return;   // its operands are the head's: never absorbed
  }
  // lookups first: each costs the call two operands (table, ids) and saves a kernel;
  // a chain of adds absorbed first would leave them none (criteo_lr's 26 terms)
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n->nin; i++) {
      IrNode *p = view_root(gr->l, n->in[i]);   // through reshapes: same_values
      if ((p->op == OP_GATHER) != (pass == 0) || is_member(gr, p)) continue;   // x * x: one step serves both operands
      int how = can_absorb(gr, p);
      if (!how || count_inputs(gr, p) + (how == 2) + lookups_left(gr, p) > DMC_KMAX_IN) continue;
      if ((how == 3 || p->op == OP_GATHER) && tail_sum(n)) continue;   // {GATHER, SUM} is a pooled lookup's program (kernels.h)
      absorb(gr, p, how == 2);
    }
}

static int slot_of(Group *gr, IrNode *q) {
  if (is_member(gr, view_root(gr->l, q))) q = view_root(gr->l, q);   // a member read through a reshape
  for (int s = 0; s < gr->f.nstep; s++)
    if (gr->f.member[s] == q) return gr->f.nin + s;
  for (int i = 0; i < gr->f.nin; i++)
    if (gr->f.in[i] == q) return i;
  if (gr->f.nin + gr->nstore >= DMC_KMAX_IN) die("fused kernel %%%d has too many operands", gr->root->id);
  gr->f.in[gr->f.nin] = q;
  return gr->f.nin++;
}

// Orders the members into steps (the head first, then by id: ids are
// topological) and numbers the operands, the members' and `extra` (read by steps
// added after, a concat's puts): all before the steps, whose slots follow them.
static void build_program(Group *gr, IrNode *const *extra, int nextra) {
  IrNode **m = gr->member;
  bool *sd = gr->stored;
  for (int i = 1; i < gr->nmember; i++)
    for (int j = i; j > 0 && (head_matmul(m[j]) || (!head_matmul(m[j - 1]) && m[j]->id < m[j - 1]->id)); j--) {
      IrNode *t = m[j];
      bool ts = sd[j];
      m[j] = m[j - 1], m[j - 1] = t;
      sd[j] = sd[j - 1], sd[j - 1] = ts;
    }
  gr->f.nstep = gr->nmember;
  for (int s = 0; s < gr->nmember; s++) gr->f.member[s] = m[s];
  // operands first (slots 0..nin-1), so step slots can be numbered after them
  for (int s = 0; s < gr->nmember; s++)
    for (int i = 0; i < m[s]->nin; i++) slot_of(gr, m[s]->in[i]);
  for (int j = 0; j < nextra; j++) slot_of(gr, extra[j]);
  for (int s = 0; s < gr->nmember; s++) {
    IrNode *x = m[s];
    DmcStep *st = &gr->f.step[s];
    st->op = x->op == OP_CONST ? DMC_OP_CONST : x->op == OP_SUM_TO ? DMC_OP_SUM : (int)x->op;   // (a tail sum)
    st->val = x->fval;
    st->a = x->nin > 0 ? slot_of(gr, x->in[0]) : 0;
    st->b = x->nin > 1 ? slot_of(gr, x->in[1]) : st->a;
    if (x->op == OP_DROPMASK) st->b = x->start;   // its stream, not an operand (step_run)
  }
  for (int s = 0; s < gr->nmember; s++)   // the stored members' buffers follow the operands
    if (sd[s]) {
      gr->f.step[s].store = gr->f.nin + gr->f.nstore;
      gr->f.in[gr->f.nin + gr->f.nstore++] = m[s];
    }
}

typedef struct {
  int *uses, *pos;
  bool *pinned, *absorbed;
  Vec **readers;
  Fused **program;   // by node id: the program it runs in, as its root or a member
} Facts;

static bool has_member(const Fused *f, const IrNode *n) {
  for (int s = 0; f && s < f->nstep; s++)
    if (f->member[s] == n) return true;
  return false;
}

// True when n is not pinned and every kernel that reads it (through views) passes ok.
static bool readers_all(const Lowered *l, Facts *fa, IrNode *n, bool (*ok)(Facts *, IrNode *, IrNode *), IrNode *arg) {
  if (fa->pinned[n->id]) return false;
  Vec *r = fa->readers[n->id];
  for (int i = 0; r && i < r->len; i++) {
    IrNode *x = r->items[i];
    if (l->view[x->id] ? !readers_all(l, fa, x, ok, arg) : !ok(fa, x, arg)) return false;
  }
  return true;
}

static bool is_reader(Facts *fa, IrNode *x, IrNode *c) {
  (void)fa;
  return x == c;
}

static bool recomputes(Facts *fa, IrNode *x, IrNode *g) { return has_member(fa->program[x->id], g); }

// Commits the program f of root n: its members run in it.
static void commit(Lowered *l, Facts *fa, IrNode *n, Fused *f) {
  l->fused[n->id] = f;
  fa->program[n->id] = f;
  for (int s = 0; s < f->nstep; s++) {
    fa->program[f->member[s]->id] = f;
    if (f->member[s] != n && !recomputable(f->member[s])) fa->absorbed[f->member[s]->id] = true;
  }
}

// sum/mean(gather(table, ids)[ * w][, mask], axis=0) with ids [L] per example and w
// [L, 1] per example (a weighted list's weights): the program {GATHER table ids;
// [MUL by w;] SUM|MEAN of it, masked by operand b (-1: none)}, the rows summed. Two
// more sums of an example's looked-up rows [L, D] times one value per example run as
// the same loops over rows read in place, not through a program's blocks:
// - sum(gather * x, axis=1), x [D]: each row's dot product with x (a sampled
//   softmax's logits: 500 rows of 64 against the user vector), the kernel's axis 1;
// - sum_to(gather * w) onto [D], w [L, 1]: the rows weighted and summed (the
//   gradient of that user vector).
// Those read a lookup that other programs may read as well, when recomputable.
static bool only_reader(const Lowered *l, const Facts *fa, IrNode *x, const IrNode *n) {
  return fa->uses[x->id] == 1 && !fa->pinned[x->id] && !fa->absorbed[x->id] && x->is_grad == n->is_grad &&
         l->buf[x->id].kind == BUF_WORK;
}

static Fused *pooled_lookup(Lowered *l, IrNode *n, Facts *fa) {
  bool each_row = n->op == OP_SUM && n->axis == 1 && n->nin == 1 && n->batched && n->in[0]->shape.rank == 2,
       sum_to = n->op == OP_SUM_TO && sums_leading_axis(n) && n->shape.rank == 1;
  if (!each_row && !sum_to && ((n->op != OP_SUM && n->op != OP_MEAN) || n->axis != 0 || !n->batched)) return NULL;
  IrNode *g = n->in[0], *w = NULL, *mul = NULL;
  if (g->op == OP_MUL && g->shape.rank == 2 && only_reader(l, fa, g, n))
    for (int k = 0; k < 2 && !w; k++) {
      IrNode *x = g->in[k], *y = g->in[1 - k];
      int64_t L = x->shape.dim[0], D = x->shape.dim[1], r = y->shape.rank;
      bool per_row = r == 2 && y->shape.dim[0] == L && y->shape.dim[1] == 1,   // [L, 1]: one weight a row
           per_col = r >= 1 && r <= 2 && shape_numel64(y->shape) == D && y->shape.dim[r - 1] == D;   // [D] or [1, D]
      if (x->op == OP_GATHER && x->shape.rank == 2 && y->batched && y->dt == DT_F32 && (each_row ? per_col : per_row))
        mul = g, g = x, w = y;
    }
  if (g->op != OP_GATHER || (each_row && !w)) return NULL;
  bool own = only_reader(l, fa, g, mul ? mul : n);
  if (!own && !((each_row || sum_to) && recomputable(g))) return NULL;
  IrNode *table = g->in[0], *ids = g->in[1];
  if (table->batched || table->shape.rank != 2 || !ids->batched || ids->shape.rank != 1) return NULL;
  if (n->nin == 2 && (n->op == OP_SUM_TO || !n->in[1]->batched || n->in[1]->shape.rank != 1)) return NULL;
  Fused *f = arena_alloc(sizeof *f);
  f->in[f->nin++] = table;
  f->in[f->nin++] = ids;
  if (n->nin == 2) f->in[f->nin++] = n->in[1];
  if (w) f->in[f->nin++] = w;
  f->member[f->nstep] = g;
  f->step[f->nstep++] = (DmcStep){DMC_OP_GATHER, 0, 1, 0, 1};   // val 1: a pooled lookup (kernels.h)
  if (w) {
    f->member[f->nstep] = mul;
    f->step[f->nstep++] = (DmcStep){DMC_OP_MUL, f->nin, f->nin - 1, 0, 0};
  }
  f->member[f->nstep] = n;
  f->step[f->nstep] = (DmcStep){n->op == OP_MEAN ? DMC_OP_MEAN : DMC_OP_SUM, f->nin + f->nstep - 1, n->nin == 2 ? 2 : -1, 0, 0};
  f->nstep++;
  return f;
}

// A bias added to a matmul stays the matmul's epilogue (a GRU's three input projections).
static bool reads_matmul(const IrNode *x) {
  for (int i = 0; i < x->nin; i++)
    if (head_matmul(x->in[i])) return true;
  return false;
}

// A concat of operands of one shape (din_attention's concat(qs, k, qs - k, qs * k)
// along axis 1 of [t, d]) whose elementwise operands only it reads, or an expand
// along axis 0 (its operand broadcasts): one program in the operands' shape computes
// them, and its last steps (CONCAT, val: the slice's offset in a row of the concat)
// write each operand's rows into the concat, a whole row at a time, so those
// operands are never written apart and the concat is written in order once.
static Fused *concat_program(Lowered *l, IrNode *n, Facts *fa) {
  if (n->op != OP_CONCAT || !n->batched || n->dt != DT_F32 || n->nin < 2) return NULL;
  IrNode *ref = NULL, *src[DMC_KMAX_IN];
  if (n->nin > DMC_KMAX_IN) return NULL;
  for (int j = 0; j < n->nin; j++) {
    IrNode *x = n->in[j];
    if (x->dt != DT_F32 || x->shape.rank != n->in[0]->shape.rank) return NULL;
    for (int d = 0; d < x->shape.rank; d++)
      if (x->shape.dim[d] != n->in[0]->shape.dim[d]) return NULL;
    if (x->batched) ref = x;
  }
  if (!ref) return NULL;
  Group gr = {.l = l, .pinned = fa->pinned, .absorbed = fa->absorbed, .readers = fa->readers,
              .pos = fa->pos, .root = n, .shape = ref};
  gr.member[gr.nmember++] = n;   // while absorbing: its reads are the group's own
  IrNode *expands[DMC_KMAX_IN];
  int nexp = 0;
  for (int j = 0; j < n->nin; j++) {
    IrNode *x = n->in[j];
    src[j] = x;
    if (fa->absorbed[x->id] || l->view[x->id] || x->is_grad != n->is_grad || l->buf[x->id].kind != BUF_WORK) continue;
    if (x->op == OP_EXPAND && x->axis == 0 && x->in[0]->dt == DT_F32 && readers_all(l, fa, x, is_reader, n)) {
      src[j] = x->in[0];   // [d] broadcasts along the steps of [t, d]
      expands[nexp++] = x;
    } else if (fusable(x) && !reads_matmul(x) && !is_member(&gr, x) && can_absorb(&gr, x) == 1 &&
               count_inputs(&gr, x) + n->nin <= DMC_KMAX_IN && gr.nmember + n->nin < DMC_KMAX_STEPS) {
      absorb(&gr, x, false);
    }
  }
  if (gr.nmember == 1 && !nexp) return NULL;
  if (count_inputs(&gr, NULL) + n->nin > DMC_KMAX_IN || gr.nmember - 1 + n->nin > DMC_KMAX_STEPS) return NULL;
  for (int i = 1; i < gr.nmember; i++) gr.member[i - 1] = gr.member[i], gr.stored[i - 1] = gr.stored[i];
  gr.nmember--;
  build_program(&gr, src, n->nin);
  int64_t inner = 1, at = 0;
  for (int d = n->axis + 1; d < n->shape.rank; d++) inner *= n->shape.dim[d];
  for (int j = 0; j < n->nin; j++) {
    int slot = slot_of(&gr, src[j]);
    gr.f.member[gr.f.nstep] = n;
    gr.f.step[gr.f.nstep++] = (DmcStep){DMC_OP_CONCAT, slot, slot, 0, (double)at};
    at += n->in[j]->shape.dim[n->axis] * inner;
  }
  for (int s = 0; s < nexp; s++) fa->absorbed[expands[s]->id] = true;
  Fused *f = arena_alloc(sizeof *f);
  *f = gr.f;
  return f;
}

static void fuse_pass(Lowered *l, Vec *v, Facts *fa) {
  for (int i = v->len - 1; i >= 0; i--) {
    IrNode *n = v->items[i];
    Fused *pooled = fa->absorbed[n->id] ? NULL : pooled_lookup(l, n, fa);
    if (pooled) {
      commit(l, fa, n, pooled);
      continue;
    }
    Fused *cat = fa->absorbed[n->id] ? NULL : concat_program(l, n, fa);
    if (cat) {
      commit(l, fa, n, cat);
      continue;
    }
    if (fa->absorbed[n->id] || l->view[n->id] || !(fusable(n) || tail_sum(n))) continue;
    Group gr = {.l = l, .pinned = fa->pinned, .absorbed = fa->absorbed, .readers = fa->readers,
                .pos = fa->pos, .root = n, .shape = tail_sum(n) ? n->in[0] : n};
    absorb(&gr, n, false);
    if (gr.nmember < 2) continue;
    build_program(&gr, NULL, 0);
    Fused *f = arena_alloc(sizeof *f);
    *f = gr.f;
    commit(l, fa, n, f);
  }
  int kept = 0;
  for (int i = 0; i < v->len; i++) {   // (a pass's readers are in it or in a later one)
    IrNode *n = v->items[i];
    if (recomputable(n) && !fa->absorbed[n->id] && readers_all(l, fa, n, recomputes, n)) fa->absorbed[n->id] = true;
    if (!fa->absorbed[n->id] && !l->view[n->id]) v->items[kept++] = n;
  }
  v->len = kept;
}

static void pin(const Lowered *l, bool *pinned, IrNode *n) {
  if (n) pinned[n->id] = true, pinned[view_root(l, n)->id] = true;
}

void fuse_kernels(Lowered *l, bool fuse) {
  Graph *g = l->g;
  int N = g->nodes.len + 1;
  l->fused = arena_alloc(sizeof(Fused *) * (size_t)N);
  l->view = arena_alloc(sizeof(bool) * (size_t)N);
  if (!fuse) return;
  Facts fa = {arena_alloc(sizeof(int) * (size_t)N), arena_alloc(sizeof(int) * (size_t)N),
              arena_alloc(sizeof(bool) * (size_t)N), arena_alloc(sizeof(bool) * (size_t)N),
              arena_alloc(sizeof(Vec *) * (size_t)N), arena_alloc(sizeof(Fused *) * (size_t)N)};
  int at = 0;
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      fa.pos[n->id] = at++;
      for (int k = 0; k < n->nin; k++) {
        IrNode *q = n->in[k];
        fa.uses[q->id]++;
        if (!fa.readers[q->id]) fa.readers[q->id] = arena_alloc(sizeof(Vec));
        vec_push(fa.readers[q->id], n);
      }
      // a stop_gradient is its operand's value: a view, unless a chain could run it as a step
      if ((n->op == OP_RESHAPE && n->batched == n->in[0]->batched) || (n->op == OP_STOPGRAD && !fusable(n->in[0])))
        l->view[n->id] = true;
    }
  }
  for (int i = 0; i < g->outputs.len; i++) pin(l, fa.pinned, ((Output *)g->outputs.items[i])->node);
  pin(l, fa.pinned, g->total_loss);
  for (int i = 0; i < g->grads.len; i++) pin(l, fa.pinned, g->grads.items[i]);
  for (int i = 0; i < g->sparse.len; i++) {
    IrNode *read[2];
    for (int k = sparse_grad_nodes(g->sparse.items[i], read) - 1; k >= 0; k--) pin(l, fa.pinned, read[k]);
  }
  fuse_pass(l, &l->backward, &fa);
  fuse_pass(l, &l->forward, &fa);
  place_slices(l);
  place_slice_views(l);
}

// --emit=kernels: "forward  fused[matmul add relu] f32[B,200]  (mlp_0/dense_0)",
// one line per kernel call, what the tests of fusion compare ("prepare": a
// forward kernel of the parameters alone, prepare.c; "loss": a forward kernel
// only the losses need, loss_last.c).
void kernels_print(Lowered *l, FILE *out) {
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      Fused *f = l->fused[n->id];
      fprintf(out, "%-9s", pass ? "backward" : i < l->nprep ? "prepare" : i < l->nscore ? "forward" : "loss");
      if (f) {
        fprintf(out, "fused[");
        for (int s = 0; s < f->nstep; s++) fprintf(out, "%s%s", s ? " " : "", op_info[f->member[s]->op].name);
        fprintf(out, "]");
      } else {
        fprintf(out, "%s", op_info[n->op].name);
      }
      int copies = 0;
      for (int k = 0; n->op == OP_CONCAT && !f && k < n->nin; k++) copies += !in_slice(l, n, n->in[k]);
      if (copies < n->nin && n->op == OP_CONCAT && !f) fprintf(out, "[copy %d of %d]", copies, n->nin);
      fprintf(out, " %s[%s", n->dt == DT_I32 ? "i32" : "f32", n->batched ? "B" : "");
      for (int d = 0; d < n->shape.rank; d++) fprintf(out, "%s%d", (d || n->batched) ? "," : "", n->shape.dim[d]);
      fprintf(out, "]");
      IrNode *home = concat_home(l, n);
      if (home != n) fprintf(out, " into [B,%d]+%lld", shape_numel(home->shape), (long long)concat_offset(l, n));
      int orow, orstride;
      concat_rows(l, n, &orow, &orstride);
      if (orow) fprintf(out, " rows %d/%d", orow, orstride);
      if (n->scope && n->scope[0]) fprintf(out, "  (%s)", n->scope);
      fputc('\n', out);
    }
  }
}
