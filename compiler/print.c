// print.c: the graph as text (`dmc --emit=ir`). Deterministic: node ids follow
// creation order, nothing depends on addresses, so tests can diff it.
// One line per node:  %7 = matmul %5, %6 : f32[B,64]   # layer mlp_0/dense_0
#include "dmc.h"

#include <string.h>

static const char *kind_names[] = {"id", "hash", "float", "weighted", "cross", "negative", "label"};

static void print_type(FILE *out, IrNode *n) {
  fprintf(out, "%s[%s", n->dt == DT_I32 ? "i32" : "f32", n->batched ? "B" : "");
  for (int i = 0; i < n->shape.rank; i++) fprintf(out, "%s%d", (i || n->batched) ? "," : "", n->shape.dim[i]);
  fputc(']', out);
}

void print_record(FILE *out, const Record *r) {
  fprintf(out, "%s(", r->name);
  for (int i = 0; i < r->n; i++) {
    fprintf(out, "%s%s=", i ? ", " : "", r->keys[i]);
    if (r->svals[i]) fprintf(out, "\"%s\"", r->svals[i]);
    else fprintf(out, "%g", r->vals[i]);
  }
  fputc(')', out);
}

static void print_feature(FILE *out, Feature *f) {
  fprintf(out, "%s %s : %s", f->kind == FK_LABEL ? "label" : "feature", f->name, kind_names[f->kind]);
  if (f->is_list) fprintf(out, "[%d]", f->len);
  if (f->columns.len) {
    fprintf(out, " from");
    for (int i = 0; i < f->columns.len; i++) fprintf(out, "%s %s", i ? "," : "", (char *)f->columns.items[i]);
    if (f->value_column) fprintf(out, ":%s", f->value_column);
  }
  for (int i = 0; i < f->sources.len; i++) fprintf(out, "%s%s", i ? ", " : " of ", ((Feature *)f->sources.items[i])->name);
  if (f->sep) fprintf(out, " sep \"%s\"", f->sep);
  if (f->kind == FK_ID || f->kind == FK_WEIGHTED) fprintf(out, " vocab %lld min_count %d", (long long)f->vocab, f->min_count);
  if (f->kind == FK_HASH || f->kind == FK_CROSS) fprintf(out, " buckets %lld", (long long)f->vocab);
  if (f->kind == FK_NEGATIVE) fprintf(out, " vocab %lld", (long long)f->vocab);
  if (f->normalize) fprintf(out, " normalize");
  if (f->log1p) fprintf(out, " log");
  if (f->has_default) fprintf(out, " default %g", f->dflt);
  if (f->next_row) fprintf(out, " next_row");
  fputc('\n', out);
}

void ir_print(Graph *g, FILE *out) {
  fprintf(out, "model %s\ndata %s", g->model_name ? g->model_name : "?", g->format);
  if (g->next_by) fprintf(out, " next_by \"%s\" order \"%s\"", g->next_by, g->next_order ? g->next_order : "");
  if (g->group_by) fprintf(out, " group_by \"%s\"", g->group_by);
  fputc('\n', out);
  for (int i = 0; i < g->features.len; i++) print_feature(out, g->features.items[i]);
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    fprintf(out, "%s %s %s", p->is_table ? "table" : "param", p->name, shape_str(p->shape));
    if (p->init) {
      fprintf(out, " init ");
      print_record(out, p->init);
    }
    if (p->optimizer) {
      fprintf(out, " optimizer ");
      print_record(out, p->optimizer);
    }
    if (p->lagged) fprintf(out, " lagged %s every %d", p->lag_of, p->lag_every);
    if (p->is_stat) fprintf(out, " running statistics");
    fputc('\n', out);
  }
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    fprintf(out, "%%%d = %s", n->id, op_info[n->op].name);
    if (n->op == OP_INPUT || n->op == OP_PARAM) fprintf(out, " %s", n->name);
    if (n->op == OP_CONST) fprintf(out, " %g", n->fval);
    for (int k = 0; k < n->nin; k++) fprintf(out, "%s%%%d", k ? ", " : " ", n->in[k]->id);
    switch (n->op) {
    case OP_SUM: case OP_MEAN: case OP_RMAX: case OP_SOFTMAX: case OP_CONCAT: case OP_SOFTMAX_GRAD: case OP_RMAX_GRAD:
      if (n->axis == AXIS_ALL) fprintf(out, " axis=all");
      else fprintf(out, " axis=%d", n->axis);
      break;
    case OP_SLICE: fprintf(out, " axis=%d start=%d len=%d", n->axis, n->start, n->len); break;
    case OP_EXPAND: fprintf(out, " axis=%d n=%d", n->axis, n->len); break;
    case OP_SCATTER: fprintf(out, " len=%d", n->len); break;
    case OP_DROPMASK: fprintf(out, " rate=%g stream=%d", n->fval, n->start); break;
    case OP_PAD: fprintf(out, " axis=%d start=%d len=%d", n->axis, n->start, n->len); break;
    case OP_TRIU_GRAD: fprintf(out, " len=%d", n->len); break;
    case OP_SUM_TO: case OP_BROADCAST: fprintf(out, " to=%s%s", n->axis ? "B" : "", shape_str(n->shape)); break;
    case OP_MATMUL_TN: if (n->axis) fprintf(out, " batched"); break;
    case OP_GRU: case OP_GRU_GRAD: if (n->axis) fprintf(out, " reverse"); break;
    default: break;
    }
    fprintf(out, " : ");
    print_type(out, n);
    if (n->scope && n->scope[0]) fprintf(out, "   # %s", n->scope);
    fputc('\n', out);
  }
  for (int i = 0; i < g->outputs.len; i++) {
    Output *o = g->outputs.items[i];
    fprintf(out, "output %s = %%%d\n", o->name, o->node->id);
  }
  for (int i = 0; i < g->losses.len; i++) fprintf(out, "loss %%%d\n", ((Output *)g->losses.items[i])->node->id);
  fprintf(out, "train batch=%d epochs=%d seed=%d l2=%g", g->batch, g->epochs, g->seed, g->l2);
  if (g->optimizer) {
    fprintf(out, " optimizer=");
    print_record(out, g->optimizer);
  }
  if (g->sparse_optimizer) {
    fprintf(out, " sparse=");
    print_record(out, g->sparse_optimizer);
  }
  fputc('\n', out);
}
