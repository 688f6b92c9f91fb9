// ir.c: the graph IR. Nodes are created in topological order (an input is always
// created before its users), each with a static shape that excludes the batch
// dimension. The shape rules here are the only place that knows what an op
// accepts; sema.c turns their messages into located diagnostics.
#include "dmc.h"
#include "kernels.h"

#include <string.h>

typedef const char *ShapeRule(IrNode *n);

#define OP(name, text, arity, rule, kind, grad) static ShapeRule rule;
#include "ops.def"
#undef OP

const OpInfo op_info[OP__COUNT] = {
#define OP(name, text, arity, rule, kind, grad) {text, OP_##name, arity, kind},
#include "ops.def"
#undef OP
};

static ShapeRule *const shape_rules[OP__COUNT] = {
#define OP(name, text, arity, rule, kind, grad) rule,
#include "ops.def"
#undef OP
};

char *shape_str(Shape s) {
  char buf[128] = "[";
  for (int i = 0; i < s.rank; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d", i ? "," : "", s.dim[i]);
  strcat(buf, "]");
  return arena_strdup(buf);
}

bool shape_eq(Shape a, Shape b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; i++)
    if (a.dim[i] != b.dim[i]) return false;
  return true;
}

int shape_numel(Shape s) {
  int64_t n = 1;
  for (int i = 0; i < s.rank; i++) n *= s.dim[i];
  return n > INT32_MAX ? INT32_MAX : (int)n;   // callers see sizes sema has bounded (MAX_NUMEL)
}

// Elements per example (or per parameter), exact; sema rejects more than MAX_NUMEL.
int64_t shape_numel64(Shape s) {
  int64_t n = 1;
  for (int i = 0; i < s.rank && n <= MAX_NUMEL; i++) n *= s.dim[i];
  return n;
}

Graph *ir_graph_new(void) {
  Graph *g = arena_alloc(sizeof *g);
  g->format = "csv";
  g->delimiter = ',';
  g->batch = 256;
  g->epochs = 1;
  g->seed = 1;
  return g;
}

static IrNode *new_node(Op op, Loc loc) {
  IrNode *n = arena_alloc(sizeof *n);
  n->op = op;
  n->loc = loc;
  n->scope = "";
  return n;
}

static void attach(Graph *g, IrNode *n) {
  n->id = g->nodes.len;
  vec_push(&g->nodes, n);
}

IrNode *ir_leaf(Graph *g, Op op, DType dt, Shape s, bool batched, const char *name, const void *ref, Loc loc) {
  IrNode *n = new_node(op, loc);
  n->dt = dt;
  for (int i = s.rank; i < MAX_RANK; i++) s.dim[i] = 0;
  n->shape = s;
  n->batched = batched;
  n->name = name;
  n->ref = ref;
  attach(g, n);
  return n;
}

IrNode *ir_const(Graph *g, double v, Loc loc) {
  IrNode *n = ir_leaf(g, OP_CONST, DT_F32, (Shape){0, {0}}, false, NULL, NULL, loc);
  n->fval = v;
  return n;
}

IrNode *ir_add(Graph *g, Op op, IrNode **in, int nin, const IrNode *attrs, Loc loc, const char **err) {
  const OpInfo *info = &op_info[op];
  if (nin > MAX_IN || (info->arity >= 0 && nin != info->arity && !(info->kind == OK_REDUCE && nin == 2)))
    die("op %s given %d inputs", info->name, nin);
  IrNode *n = new_node(op, loc);
  if (attrs) {
    n->axis = attrs->axis;
    n->start = attrs->start;
    n->len = attrs->len;
    n->fval = attrs->fval;
    n->shape = attrs->shape;   // reshape's target
    n->name = attrs->name;
  }
  n->nin = nin;
  bool batched = false;
  for (int i = 0; i < nin; i++) {
    if (!in[i]) die("null input to %s", info->name);
    n->in[i] = in[i];
    batched |= in[i]->batched;
  }
  n->batched = batched;
  n->dt = DT_F32;
  n->is_grad = attrs && attrs->is_grad;
  const char *msg = shape_rules[op](n);
  if (msg) {
    *err = msg;
    return NULL;
  }
  for (int i = n->shape.rank; i < MAX_RANK; i++) n->shape.dim[i] = 0;   // unused dims are 0: printed, compared
  if (shape_numel64(n->shape) > MAX_NUMEL) {
    *err = arena_printf("%s would have %s: more than %d elements per example", op_info[op].name, shape_str(n->shape),
                        MAX_NUMEL);
    return NULL;
  }
  attach(g, n);
  return n;
}

// ---- shape rules: set n->shape (and dt); return NULL or what is wrong ----

static const char *shape_leaf(IrNode *n) {
  (void)n;
  return NULL;
}

static const char *need_f32(IrNode *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->dt != DT_F32)
      return arena_printf("%s expects numbers, but operand %d holds ids; embed them first",
                          op_info[n->op].name, i + 1);
  return NULL;
}

static const char *binary_symbol(Op op) {
  switch (op) {
  case OP_ADD: return "+";
  case OP_SUB: return "-";
  case OP_MUL: return "*";
  case OP_DIV: return "/";
  default: return op_info[op].name;
  }
}

// numpy broadcasting on trailing axes; the batch dimension is always compatible.
static const char *shape_binary(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape a = n->in[0]->shape, b = n->in[1]->shape, r = {0, {0}};
  r.rank = a.rank > b.rank ? a.rank : b.rank;
  for (int i = 0; i < r.rank; i++) {
    int da = i < r.rank - a.rank ? 1 : a.dim[i - (r.rank - a.rank)];
    int db = i < r.rank - b.rank ? 1 : b.dim[i - (r.rank - b.rank)];
    if (da != db && da != 1 && db != 1)
      return arena_printf("shape mismatch: %s %s %s", shape_str(a), binary_symbol(n->op), shape_str(b));
    r.dim[i] = da > db ? da : db;
  }
  n->shape = r;
  return NULL;
}

static const char *shape_unary(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  n->shape = n->in[0]->shape;
  return NULL;
}

static const char *shape_mask(IrNode *n) {
  if (n->in[0]->dt != DT_I32) return "mask expects ids";
  n->shape = n->in[0]->shape;
  return NULL;
}

static const char *check_mask_input(IrNode *n) {
  if (n->nin < 2) return NULL;
  IrNode *m = n->in[1];
  Shape x = n->in[0]->shape;
  if (n->axis != 0 || m->shape.rank != 1 || x.rank < 1 || m->shape.dim[0] != x.dim[0])
    return arena_printf("mask %s does not fit axis %d of %s", shape_str(m->shape), n->axis, shape_str(x));
  return NULL;
}

static const char *shape_reduce(IrNode *n) {
  if (n->in[0]->dt != DT_F32) return need_f32(n);
  Shape x = n->in[0]->shape, r = {0, {0}};
  if (n->axis == AXIS_ALL) {
    n->shape = r;
    return NULL;
  }
  if (n->axis < 0 || n->axis >= x.rank)
    return arena_printf("axis %d is out of range for %s", n->axis, shape_str(x));
  const char *e = check_mask_input(n);
  if (e) return e;
  for (int i = 0; i < x.rank; i++)
    if (i != n->axis) r.dim[r.rank++] = x.dim[i];
  n->shape = r;
  return NULL;
}

static const char *shape_softmax(IrNode *n) {
  if (n->in[0]->dt != DT_F32) return need_f32(n);
  Shape x = n->in[0]->shape;
  if (n->axis < 0 || n->axis >= x.rank)
    return arena_printf("axis %d is out of range for %s", n->axis, shape_str(x));
  const char *e = check_mask_input(n);
  if (e) return e;
  n->shape = x;
  return NULL;
}

// [.., k] @ [k, n] -> [.., n]; with both sides per example, [m, k] @ [k, n] -> [m, n].
// matmul_nt (matmul's input gradient) reads b transposed: [.., k] @ [n, k]^T -> [.., n].
static const char *shape_matmul(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape a = n->in[0]->shape, b = n->in[1]->shape;
  int nt = n->op == OP_MATMUL_NT;
  if (a.rank < 1 || b.rank != 2 || a.dim[a.rank - 1] != b.dim[nt])
    return arena_printf("shape mismatch: %s @ %s%s", shape_str(a), shape_str(b), nt ? "^T" : "");
  n->shape = a;
  n->shape.dim[a.rank - 1] = b.dim[!nt];
  return NULL;
}

// table [V, D] (a parameter) or a per-example vector [V]; ids of any shape.
static const char *shape_gather(IrNode *n) {
  IrNode *t = n->in[0], *ids = n->in[1];
  if (ids->dt != DT_I32) return "gather expects ids as its second operand";
  if (t->dt != DT_F32 || t->shape.rank < 1 || t->shape.rank > 2)
    return arena_printf("cannot look ids up in %s", shape_str(t->shape));
  if (ids->shape.rank + t->shape.rank - 1 > MAX_RANK) return "too many dimensions";
  Shape r = ids->shape;
  if (t->shape.rank == 2) r.dim[r.rank++] = t->shape.dim[1];
  n->shape = r;
  return NULL;
}

// ids [T], values [T] -> a dense per-example vector [len].
static const char *shape_scatter(IrNode *n) {
  IrNode *ids = n->in[0], *v = n->in[1];
  if (ids->dt != DT_I32 || v->dt != DT_F32 || !shape_eq(ids->shape, v->shape) || ids->shape.rank != 1)
    return "scatter expects ids [T] and values [T]";
  n->shape = (Shape){1, {n->len}};
  return NULL;
}

static const char *shape_concat(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape r = n->in[0]->shape;
  if (n->axis < 0 || n->axis >= r.rank) return arena_printf("cannot concatenate %s values along axis %d", shape_str(r), n->axis);
  for (int i = 1; i < n->nin; i++) {
    Shape s = n->in[i]->shape;
    bool ok = s.rank == r.rank;
    for (int d = 0; ok && d < r.rank; d++)
      if (d != n->axis && s.dim[d] != r.dim[d]) ok = false;
    if (!ok)
      return arena_printf("shape mismatch in concat: %s and %s differ outside axis %d",
                          shape_str(n->in[0]->shape), shape_str(s), n->axis);
    r.dim[n->axis] += s.dim[n->axis];
  }
  n->shape = r;
  return NULL;
}

static const char *shape_slice(IrNode *n) {
  Shape x = n->in[0]->shape;
  if (n->axis < 0 || n->axis >= x.rank) return arena_printf("axis %d is out of range for %s", n->axis, shape_str(x));
  if (n->start < 0 || n->len < 1 || n->start + n->len > x.dim[n->axis])
    return arena_printf("slice %d..%d is out of range for axis %d of %s", n->start, n->start + n->len,
                        n->axis, shape_str(x));
  n->shape = x;
  n->shape.dim[n->axis] = n->len;
  n->dt = n->in[0]->dt;
  return NULL;
}

static const char *shape_reshape(IrNode *n) {
  if (shape_numel(n->shape) != shape_numel(n->in[0]->shape))
    return arena_printf("cannot reshape %s to %s", shape_str(n->in[0]->shape), shape_str(n->shape));
  n->dt = n->in[0]->dt;
  return NULL;
}

static const char *shape_transpose(IrNode *n) {
  Shape x = n->in[0]->shape;
  if (x.rank < 2) return arena_printf("transpose needs at least 2 axes, got %s", shape_str(x));
  n->shape = x;
  n->shape.dim[x.rank - 2] = x.dim[x.rank - 1];
  n->shape.dim[x.rank - 1] = x.dim[x.rank - 2];
  return NULL;
}

// x[.., n, n] -> its strict upper triangle [.., n(n-1)/2], n >= 2
static const char *shape_triu(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape x = n->in[0]->shape;
  if (x.rank < 2 || x.dim[x.rank - 1] != x.dim[x.rank - 2] || x.dim[x.rank - 1] < 2)
    return arena_printf("triu needs square matrices of at least 2 x 2 on the last two axes, got %s", shape_str(x));
  n->shape = x;
  n->shape.rank--;
  n->shape.dim[x.rank - 2] = x.dim[x.rank - 1] * (x.dim[x.rank - 1] - 1) / 2;
  return NULL;
}

// e[f, k] per example -> the products of its pairs of rows [f(f-1)/2, k], f >= 2
static const char *shape_pairs(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape x = n->in[0]->shape;
  if (x.rank != 2 || x.dim[0] < 2)
    return arena_printf("pairwise_products needs rows of embeddings [f, k] with f >= 2, got %s", shape_str(x));
  n->shape = x;
  n->shape.dim[0] = x.dim[0] * (x.dim[0] - 1) / 2;
  return NULL;
}

// (e[f, k], dy[f(f-1)/2, k]) -> de[f, k] (pairwise_products' gradient)
static const char *shape_pairs_grad(IrNode *n) {
  n->shape = n->in[0]->shape;
  return NULL;
}

// dy[.., P] -> [.., len, len] with P = len(len-1)/2 (triu's gradient)
static const char *shape_triu_grad(IrNode *n) {
  Shape x = n->in[0]->shape;
  if (x.rank < 1 || x.rank >= MAX_RANK || n->len < 2 || x.dim[x.rank - 1] != n->len * (n->len - 1) / 2)
    return arena_printf("triu_grad of %s to %d x %d", shape_str(x), n->len, n->len);
  n->shape = x;
  n->shape.dim[x.rank - 1] = n->len;
  n->shape.dim[x.rank] = n->len;
  n->shape.rank++;
  return NULL;
}

static const char *shape_expand(IrNode *n) {
  Shape x = n->in[0]->shape;
  if (x.rank >= MAX_RANK) return "too many dimensions";
  if (n->axis < 0 || n->axis > x.rank) return arena_printf("axis %d is out of range for %s", n->axis, shape_str(x));
  if (n->len < 1) return "expand needs a positive count";
  Shape r = {x.rank + 1, {0}};
  for (int i = 0, j = 0; i < r.rank; i++) r.dim[i] = i == n->axis ? n->len : x.dim[j++];
  n->shape = r;
  return NULL;
}

static const char *shape_loss(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  if (!shape_eq(n->in[0]->shape, n->in[1]->shape))
    return arena_printf("shape mismatch: prediction %s, target %s", shape_str(n->in[0]->shape),
                        shape_str(n->in[1]->shape));
  n->shape = (Shape){0, {0}};
  return NULL;
}

static const char *shape_softmax_ce(IrNode *n) {
  if (n->in[0]->dt != DT_F32 || n->in[0]->shape.rank != 1)
    return arena_printf("softmax_ce expects logits [n], got %s", shape_str(n->in[0]->shape));
  if (n->in[1]->dt != DT_I32 || n->in[1]->shape.rank != 0) return "softmax_ce expects one id per example";
  n->shape = (Shape){0, {0}};
  return NULL;
}

static const char *broadcastable(Shape from, Shape to) {
  if (from.rank > to.rank) return "rank";
  for (int i = 0; i < from.rank; i++) {
    int f = from.dim[i], t = to.dim[to.rank - from.rank + i];
    if (f != t && f != 1) return "dim";
  }
  return NULL;
}

// sum over the axes along which attrs.shape was broadcast (and over the batch
// when the result is not batched: attrs.axis = 0)
static const char *shape_sum_to(IrNode *n) {
  if (broadcastable(n->shape, n->in[0]->shape))
    return arena_printf("cannot sum %s to %s", shape_str(n->in[0]->shape), shape_str(n->shape));
  n->batched = n->in[0]->batched && n->axis;
  return NULL;
}

static const char *shape_broadcast(IrNode *n) {
  if (broadcastable(n->in[0]->shape, n->shape))
    return arena_printf("cannot broadcast %s to %s", shape_str(n->in[0]->shape), shape_str(n->shape));
  n->batched = n->in[0]->batched || n->axis;
  return NULL;
}

// a [P.., k], b [P.., n] -> [k, n], summed over P (and the batch unless attrs.axis)
static const char *shape_matmul_tn(IrNode *n) {
  Shape a = n->in[0]->shape, b = n->in[1]->shape;
  bool ok = a.rank == b.rank && a.rank >= 1;
  for (int i = 0; ok && i < a.rank - 1; i++) ok = a.dim[i] == b.dim[i];
  if (!ok) return arena_printf("shape mismatch: %s^T @ %s", shape_str(a), shape_str(b));
  n->shape = (Shape){2, {a.dim[a.rank - 1], b.dim[b.rank - 1]}};
  n->batched = n->batched && n->axis;
  return NULL;
}

static const char *shape_pad(IrNode *n) {
  Shape x = n->in[0]->shape;
  if (n->axis < 0 || n->axis >= x.rank || n->start < 0 || n->start + x.dim[n->axis] > n->len)
    return arena_printf("cannot pad %s to %d along axis %d", shape_str(x), n->len, n->axis);
  n->shape = x;
  n->shape.dim[n->axis] = n->len;
  return NULL;
}

// x, and its running mean and variance (parameters of x's shape)
static const char *shape_standardize(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape x = n->in[0]->shape;
  if (!shape_eq(n->in[1]->shape, x) || !shape_eq(n->in[2]->shape, x) || n->in[1]->batched || n->in[2]->batched)
    return "standardize's running statistics must have the shape of x";
  n->shape = x;
  return NULL;
}

static const char *shape_like0(IrNode *n) {
  n->shape = n->in[0]->shape;
  return NULL;
}

// x [t, 3n] (the inputs' projections for the update, reset and candidate gates), a [t]
// (the update gate's scale), m [t] (0/1 steps), U [n, 3n] shared -> the states [t, n]
#define GRU_MAX_STATE 1536   // runtime/rnn_impl.h keeps a block's gates in a fixed buffer
static const char *shape_gru(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape x = n->in[0]->shape, a = n->in[1]->shape, m = n->in[2]->shape, u = n->in[3]->shape;
  if (x.rank != 2 || x.dim[1] % 3)
    return arena_printf("augru_scan's x must be [t, 3n] (update, reset and candidate inputs side by side), got %s",
                        shape_str(x));
  int t = x.dim[0], h = x.dim[1] / 3;
  if (h > GRU_MAX_STATE) return arena_printf("augru_scan's state size %d is over the limit of %d", h, GRU_MAX_STATE);
  if (a.rank != 1 || a.dim[0] != t || m.rank != 1 || m.dim[0] != t)
    return arena_printf("augru_scan's a and m must be [%d] like x's steps, got %s and %s", t, shape_str(a),
                        shape_str(m));
  if (u.rank != 2 || u.dim[0] != h || u.dim[1] != 3 * h)
    return arena_printf("augru_scan's U must be [%d, %d] for x %s, got %s", h, 3 * h, shape_str(x), shape_str(u));
  if (n->in[3]->batched) return "augru_scan's U must be shared by every example (a parameter), not computed per example";
  n->shape = (Shape){2, {t, h}};
  return NULL;
}

// AFM's attention pooling (runtime/afm_impl.h): e[f, k] per example, W[k, t], b[t]
// and h[t] shared -> [k], within the kernel's stack arrays (kernels.h)
static const char *shape_afm_pool(IrNode *n) {
  const char *e = need_f32(n);
  if (e) return e;
  Shape x = n->in[0]->shape, w = n->in[1]->shape, b = n->in[2]->shape, h = n->in[3]->shape;
  if (x.rank != 2 || x.dim[0] < 2)
    return arena_printf("afm_pool's e must be rows of embeddings [f, k] with f >= 2, got %s", shape_str(x));
  int f = x.dim[0], k = x.dim[1];
  if (w.rank != 2 || w.dim[0] != k) return arena_printf("afm_pool's W must be [%d, t] for e %s, got %s", k, shape_str(x), shape_str(w));
  int t = w.dim[1];
  if (b.rank != 1 || b.dim[0] != t || h.rank != 1 || h.dim[0] != t)
    return arena_printf("afm_pool's b and h must be [%d] like W's columns, got %s and %s", t, shape_str(b), shape_str(h));
  if (!n->in[0]->batched) return "afm_pool's e must be computed per example";
  if (n->in[1]->batched || n->in[2]->batched || n->in[3]->batched)
    return "afm_pool's W, b and h must be shared by every example (parameters), not computed per example";
  if (f > DMC_AFM_MAX_F || (int64_t)f * k > DMC_AFM_BUF || k > DMC_AFM_MAX_KT || t > DMC_AFM_MAX_KT)
    return arena_printf("afm_pool of e %s and t = %d is over its limits: at most %d fields, f * k <= %d, k and t <= %d",
                        shape_str(x), t, DMC_AFM_MAX_F, DMC_AFM_BUF, DMC_AFM_MAX_KT);
  n->shape = (Shape){1, {k}};
  return NULL;
}

// (e, W, b, h, dy) -> [de (f k) | dW (k t) | db (t) | dh (t)] per example
static const char *shape_afm_pool_grad(IrNode *n) {
  Shape x = n->in[0]->shape, w = n->in[1]->shape;
  n->shape = (Shape){1, {x.dim[0] * x.dim[1] + w.dim[0] * w.dim[1] + 2 * w.dim[1]}};
  return NULL;
}

// (x, a, m, U, h, dh) -> per step [dzu | dzr | dzc | dzu | dzr | dq | h_prev | da],
// each part from a multiple of 16 (runtime/kernels.h: DMC_GRU_ROW)
static const char *shape_gru_grad(IrNode *n) {
  Shape h = n->in[4]->shape;
  n->shape = (Shape){2, {h.dim[0], DMC_GRU_ROW(h.dim[1])}};
  return NULL;
}
