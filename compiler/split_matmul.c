// split_matmul.c: a matmul of a concat by W is the sum of each part's matmul by
// its block of W's rows, so a part that repeats one vector along the leading axis
// (DIN's candidate, expand(q, 0, t), in concat(qs, keys, qs - keys, qs * keys)) is
// multiplied once per example, not once per step, and a difference of parts is
// distributed: with W = [Wq; Wk; Wd; Wp],
//   concat(qs, keys, qs - keys, qs * keys) W
//     = expand(q (Wq + Wd)) + concat(keys, qs * keys) [Wk - Wd; Wp],
// half the multiply-adds of the [t, 4d] form, and the [t, 4d] concat is never
// built. It runs before autodiff, so the gradients follow from the rewritten graph
// (W's gradient gathers its blocks' through pads). Only matmuls that gain are
// rewritten: one whose concat nothing else reads, with a part repeated along the
// leading axis or parts that share an operand. Values change by rounding only;
// the model's parameters and --report's FLOPs (the model as written) do not.
#include "dmc.h"

enum { MAX_RAW = 64 };   // blocks of W in one rewrite

typedef struct {
  IrNode *x;        // the operand: a [.., k] part, or the vector a leading expand repeats
  bool repeated;    // x is repeated along the leading axis of the part
  IrNode *w;        // its weight so far: a sum of +-blocks of W
} Term;

typedef struct {
  Graph *g;
  IrNode *m;        // the matmul being rewritten: its location and scope
  Term t[MAX_RAW];
  int n;
} Split;

static IrNode *node(Split *s, Op op, IrNode **in, int nin, const IrNode *attrs) {
  const char *err = NULL;
  IrNode *r = ir_add(s->g, op, in, nin, attrs, s->m->loc, &err);
  if (!r) die("splitting a matmul: %s", err);
  return r;
}

static IrNode *bin(Split *s, Op op, IrNode *a, IrNode *b) {
  IrNode *in[2] = {a, b};
  return node(s, op, in, 2, NULL);
}

// The operand x of a part of shape `part`: the vector repeated, when x repeats one
// along the leading axis (an expand at axis 0, or a vector one rank lower broadcast
// by an elementwise op); NULL when x is neither that nor the part's own shape.
static IrNode *operand(IrNode *x, const IrNode *part, bool *repeated) {
  if (x->batched != part->batched) return NULL;
  *repeated = false;
  if (shape_eq(x->shape, part->shape)) {
    if (x->op != OP_EXPAND || x->axis != 0) return x;
    x = x->in[0];
    if (x->batched != part->batched) return NULL;
  }
  if (x->shape.rank != part->shape.rank - 1) return NULL;
  for (int d = 0; d < x->shape.rank; d++)
    if (x->shape.dim[d] != part->shape.dim[d + 1]) return NULL;
  *repeated = true;
  return x;
}

// Adds sign * block to the weight of operand x.
static void add_term(Split *s, IrNode *x, bool repeated, int sign, IrNode *block) {
  for (int i = 0; i < s->n; i++)
    if (s->t[i].x == x && s->t[i].repeated == repeated) {
      s->t[i].w = bin(s, sign > 0 ? OP_ADD : OP_SUB, s->t[i].w, block);
      return;
    }
  if (sign < 0) block = node(s, OP_NEG, &block, 1, NULL);
  s->t[s->n++] = (Term){x, repeated, block};
}

typedef struct {   // one block of W and the operand it multiplies, with its sign
  IrNode *x;
  bool rep;
  int sign, start, len;
} Raw;


// The blocks of part p (concat parts within parts along the same axis, read by
// nothing else, open up too); false when there are more than MAX_RAW.
static bool blocks(const int *readers, IrNode *p, int axis, int *start, Raw *raw, int *nraw) {
  if (p->op == OP_CONCAT && p->axis == axis && readers[p->id] == 1) {
    for (int k = 0; k < p->nin; k++)
      if (!blocks(readers, p->in[k], axis, start, raw, nraw)) return false;
    return true;
  }
  if (*nraw + 2 > MAX_RAW) return false;
  int len = p->shape.dim[axis];
  bool r0, r1;
  IrNode *a = (p->op == OP_ADD || p->op == OP_SUB) ? operand(p->in[0], p, &r0) : NULL;
  IrNode *b = a ? operand(p->in[1], p, &r1) : NULL;
  if (a && b) {
    raw[(*nraw)++] = (Raw){a, r0, 1, *start, len};
    raw[(*nraw)++] = (Raw){b, r1, p->op == OP_ADD ? 1 : -1, *start, len};
  } else {
    IrNode *x = operand(p, p, &r0);
    raw[(*nraw)++] = (Raw){x ? x : p, x && r0, 1, *start, len};
  }
  *start += len;
  return true;
}

// The terms of matmul(concat, W) (s->m), or false when it does not gain.
static bool collect(Split *s, const int *readers, IrNode *c, IrNode *w) {
  Raw raw[MAX_RAW];
  int nraw = 0, start = 0, shared = 0, repeated = 0;
  for (int k = 0; k < c->nin; k++)
    if (!blocks(readers, c->in[k], c->axis, &start, raw, &nraw)) return false;
  for (int i = 0; i < nraw; i++) {
    repeated += raw[i].rep;
    for (int j = 0; j < i; j++) shared += raw[j].x == raw[i].x && raw[j].rep == raw[i].rep;
  }
  if (!repeated && !shared) return false;
  for (int i = 0; i < nraw; i++) {
    IrNode a = {.axis = 0, .start = raw[i].start, .len = raw[i].len};
    add_term(s, raw[i].x, raw[i].rep, raw[i].sign, node(s, OP_SLICE, &w, 1, &a));
  }
  return true;
}

// concat(xs[0..n)) along axis, nested when n is more than a node's operands
static IrNode *concat_all(Split *s, IrNode **xs, int n, int axis) {
  IrNode a = {.axis = axis};
  while (n > MAX_IN) {   // the last MAX_IN become one
    xs[n - MAX_IN] = node(s, OP_CONCAT, xs + n - MAX_IN, MAX_IN, &a);
    n -= MAX_IN - 1;
  }
  return n > 1 ? node(s, OP_CONCAT, xs, n, &a) : xs[0];
}

// The rewritten value of s->m: the steps' matmul first (a fused kernel's head),
// then each repeated vector's product, expanded.
static IrNode *rebuild(Split *s, int t) {
  IrNode *xs[MAX_RAW], *ws[MAX_RAW], *sum = NULL;
  int n = 0;
  for (int i = 0; i < s->n; i++)
    if (!s->t[i].repeated) xs[n] = s->t[i].x, ws[n++] = s->t[i].w;
  if (n) sum = bin(s, OP_MATMUL, concat_all(s, xs, n, xs[0]->shape.rank - 1), concat_all(s, ws, n, 0));
  for (int i = 0; i < s->n; i++) {
    if (!s->t[i].repeated) continue;
    IrNode *v = bin(s, OP_MATMUL, s->t[i].x, s->t[i].w);
    IrNode ea = {.axis = 0, .len = t};
    v = node(s, OP_EXPAND, &v, 1, &ea);
    sum = sum ? bin(s, OP_ADD, sum, v) : v;
  }
  return sum;
}

// m's rewritten value, or NULL when it is not a matmul of a concat that gains.
static IrNode *split(Graph *g, IrNode *m, const int *readers) {
  IrNode *c = m->op == OP_MATMUL ? m->in[0] : NULL;
  // a concat read elsewhere too would be built anyway, its parts then written twice
  if (!c || c->op != OP_CONCAT || readers[c->id] != 1 || c->axis != c->shape.rank - 1 || c->shape.rank < 2 ||
      c->shape.dim[0] < 2 || m->in[1]->batched)
    return NULL;
  Split s = {.g = g, .m = m};
  return collect(&s, readers, c, m->in[1]) ? rebuild(&s, c->shape.dim[0]) : NULL;
}

void ir_split_concat_matmuls(Graph *g) { ir_rewrite(g, split); }
