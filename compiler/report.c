// report.c: what an architecture costs before it is trained (`dmc --report`):
// parameters and bytes per table and layer, and forward FLOPs per example by
// layer, and of a training step (forward and backward). FLOPs count multiply-adds
// as 2; lookups and moves count 0 (they cost memory traffic, reported as bytes
// gathered). They are the model's as written, as in a model-FLOPs utilization:
// neither the work the compiler's rewrites save nor what a kernel recomputes.
#include "dmc.h"

#include <string.h>

// The forward formula of AFM's attention pooling: pairs, W and b, relu, h, softmax,
// weighted sum over p pairs of k values, attention size t.
static double afm_pool_flops(double p, double k, double t) { return p * (3 * k + 2 * t * k + 4 * t + 4); }

// Work per example: a node with the batch dimension, or one summing over the batch
// (a weight's gradient, X^T dY: its share of the sum is one example's product).
static bool per_example(IrNode *n) {
  if (n->batched) return true;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->batched) return true;
  return false;
}

double ir_node_flops(IrNode *n) {
  if (!per_example(n)) return 0;
  double out = shape_numel(n->shape);
  switch (op_info[n->op].kind) {
  case OK_MATMUL: {
    Shape a = n->in[0]->shape;
    if (n->op == OP_AFM_POOL || n->op == OP_AFM_POOL_GRAD) {
      double k = a.dim[1], t = n->in[1]->shape.dim[1], p = a.dim[0] * (a.dim[0] - 1) / 2.0;
      // the gradient: dW = X^T dZ and dX = dZ W^T (not the forward it recomputes)
      return n->op == OP_AFM_POOL ? afm_pool_flops(p, k, t) : p * (4 * t * k + 6 * t + 4 * k);
    }
    if (n->op == OP_GRU_GRAD) {   // per step dL/dh_prev by U^T (not the gates it recomputes)
      double t = n->in[4]->shape.dim[0], h = n->in[4]->shape.dim[1];
      return t * 6 * h * h;
    }
    if (n->op == OP_MATMUL_TN) {   // sum over a's leading axes of a[p,k] b[p,n]
      double lead = shape_numel(a) / a.dim[a.rank - 1];
      return 2.0 * out * lead;
    }
    int k = a.dim[a.rank - 1];
    return 2.0 * out * k;
  }
  case OK_ELEMWISE: return n->op == OP_STOPGRAD ? 0 : out;
  case OK_MOVE: return n->op == OP_PAIRS ? out : 0;   // a multiply per product
  case OK_REDUCE: return n->op == OP_SOFTMAX ? 4.0 * out : shape_numel(n->in[0]->shape);
  case OK_LOSS: return 4.0 * shape_numel(n->in[0]->shape);
  default: return 0;
  }
}

static void thousands(char *buf, size_t cap, double v) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.0f", v);
  int len = (int)strlen(tmp), o = 0;
  for (int i = 0; i < len && o + 2 < (int)cap; i++) {
    if (i && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = 0;
}

static const char *bytes_str(double b) {
  if (b >= 1 << 20) return arena_printf("%.1f MiB", b / (1 << 20));
  if (b >= 1 << 10) return arena_printf("%.1f KiB", b / (1 << 10));
  return arena_printf("%.0f B", b);
}

static const char *top_scope(const char *s) {
  if (!s || !s[0]) return "(top level)";
  const char *e = strchr(s, '/');
  return e ? arena_strndup(s, (size_t)(e - s)) : s;
}

void ir_report(Graph *g, FILE *out) {
  char a[32], b[32];
  double total = 0;
  for (int i = 0; i < g->params.len; i++) total += shape_numel(((Param *)g->params.items[i])->shape);
  thousands(a, sizeof a, total);
  fprintf(out, "model %s: %s parameters, %s (f32)\n\n", g->model_name, a, bytes_str(4 * total));
  fprintf(out, "  %-36s %-14s %12s %10s\n", "parameter", "shape", "count", "bytes");
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    double n = shape_numel(p->shape);
    thousands(a, sizeof a, n);
    fprintf(out, "  %-36s %-14s %12s %10s%s\n", p->name, shape_str(p->shape), a, bytes_str(4 * n),
            p->is_table ? "  table" : p->lagged ? "  target copy" : "");
  }
  // forward cost per top-level layer, in order of first appearance
  Vec scopes = {0};
  double flops[256] = {0}, gathered[256] = {0}, all = 0, all_bytes = 0, scored = 0, scored_bytes = 0;
  bool *scoring = ir_scoring_nodes(g);   // what predict and serving compute
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    const char *s = top_scope(n->scope);
    int k = 0;
    while (k < scopes.len && strcmp(scopes.items[k], s)) k++;
    if (k == scopes.len) {
      if (k == 256) k = 255;
      else vec_push(&scopes, (void *)s);
    }
    double f = ir_node_flops(n);
    double by = n->op == OP_GATHER && n->batched ? 4.0 * shape_numel(n->shape) : 0;
    flops[k] += f;
    gathered[k] += by;
    all += f;
    all_bytes += by;
    if (scoring[n->id]) scored += f, scored_bytes += by;
  }
  fprintf(out, "\n  %-36s %16s %14s\n", "forward, per example", "FLOPs", "gathered");
  for (int k = 0; k < scopes.len; k++) {
    if (flops[k] == 0 && gathered[k] == 0) continue;
    thousands(a, sizeof a, flops[k]);
    fprintf(out, "  %-36s %16s %14s\n", (char *)scopes.items[k], a, bytes_str(gathered[k]));
  }
  thousands(b, sizeof b, all);
  fprintf(out, "  %-36s %16s %14s\n", "total", b, bytes_str(all_bytes));
  thousands(b, sizeof b, scored);
  fprintf(out, "  %-36s %16s %14s\n", "scoring (the outputs alone)", b, bytes_str(scored_bytes));
}

// After ir_build_training without rewrites: the step's forward (what training
// computes, the losses included) and its backward, per example.
void ir_report_training(Graph *g, FILE *out) {
  double fwd = 0, bwd = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    *(n->is_grad ? &bwd : &fwd) += ir_node_flops(n);
  }
  char a[32], b[32];
  thousands(a, sizeof a, fwd + bwd);
  thousands(b, sizeof b, bwd);
  fprintf(out, "  %-36s %16s   (backward %s)\n", "training step (forward + backward)", a, b);
}
