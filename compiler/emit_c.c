// emit_c.c: prints the lowered model as C (`dmc --emit=c`, and what `dmc -o`
// compiles). The file defines the descriptor of runtime/dmc_abi.h and the
// forward and backward entry points: one kernel call per lowered node, each
// preceded by the node's IR line as a comment (a fused kernel: the IR line of
// every node it runs, and its program as a DmcStep array).
#include <string.h>

#include "fuse.h"

static const char *feature_kinds[] = {"DMC_FEAT_ID", "DMC_FEAT_HASH", "DMC_FEAT_FLOAT", "DMC_FEAT_WEIGHTED",
                                      "DMC_FEAT_CROSS", "DMC_FEAT_NEGATIVE", "DMC_FEAT_LABEL"};

static void c_string(FILE *out, const char *s) {
  if (!s) {
    fprintf(out, "NULL");
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(out, "\\%c", *s);
    else if ((unsigned char)*s < 32 || (unsigned char)*s > 126) fprintf(out, "\\%03o", (unsigned char)*s);
    else fputc(*s, out);
  }
  fputc('"', out);
}

static void c_char(FILE *out, const char *s) {
  if (!s) fprintf(out, "0");
  else if (*s == '\t') fprintf(out, "'\\t'");
  else if (*s == '\'' || *s == '\\') fprintf(out, "'\\%c'", *s);
  else fprintf(out, "'%c'", *s);
}

static void shape_comment(FILE *out, IrNode *n) {
  fprintf(out, "%s[%s", n->dt == DT_I32 ? "i32" : "f32", n->batched ? "B" : "");
  for (int i = 0; i < n->shape.rank; i++) fprintf(out, "%s%d", (i || n->batched) ? "," : "", n->shape.dim[i]);
  fputc(']', out);
}

// The C expression for a node's buffer.
static const char *buf_expr(Lowered *l, IrNode *n) {
  Buf *b = &l->buf[n->id];
  switch (b->kind) {
  case BUF_INPUT: return arena_printf("ctx->inputs[%lld]", (long long)b->index);
  case BUF_PARAM: return arena_printf("(ctx->params + %lld)", (long long)b->index);
  case BUF_GRAD: return arena_printf("(ctx->grads + %lld)", (long long)b->index);
  default:
    if (b->per_row) return arena_printf("(W + %lld + %lld * (int64_t)B)", (long long)b->fixed, (long long)b->per_row);
    return arena_printf("(W + %lld)", (long long)b->fixed);
  }
}

static void kshape(FILE *out, const DmcKShape *s) {
  fprintf(out, "{%d, {%d, %d, %d, %d}, %d, %d, %d}", s->rank, s->dim[0], s->dim[1], s->dim[2], s->dim[3], s->batched,
          s->is_ids, s->ld);
}

static const char *op_enum_name(Op op) {
  static const char *names[] = {
#define OP(name, text, arity, shape_rule, kind, grad) #name,
#include "ops.def"
#undef OP
  };
  return names[op];
}

static const char *step_op_name(int op) { return op == DMC_OP_FUSED ? "FUSED" : op_enum_name((Op)op); }

static void emit_kernels(Lowered *l, FILE *out) {
  for (int pass = 0; pass < 2; pass++) {
    Vec *v = pass ? &l->backward : &l->forward;
    for (int i = 0; i < v->len; i++) {
      IrNode *n = v->items[i];
      DmcKernel k;
      lowered_describe(l, n, &k);
      if (k.nstep) {
        fprintf(out, "static const DmcStep k%d_steps[%d] = {", n->id, k.nstep);
        for (int s = 0; s < k.nstep; s++)
          fprintf(out, "%s{DMC_OP_%s, %d, %d, %d, %.17g}", s ? ", " : "", step_op_name(k.step[s].op), k.step[s].a,
                  k.step[s].b, k.step[s].store, k.step[s].val);
        fprintf(out, "};\n");
      }
      fprintf(out, "static const DmcKernel k%d = {DMC_OP_%s, ", n->id, step_op_name(k.op));
      kshape(out, &k.out);
      fprintf(out, ", %d, {", k.nin);
      for (int j = 0; j < DMC_KMAX_IN; j++) {
        if (j) fprintf(out, ", ");
        kshape(out, &k.in[j]);
      }
      fprintf(out, "}, %d, %d, %d, %.17g, %d, %s, %d, %d, %d};\n", k.axis, k.start, k.len, k.fval, k.nstep,
              k.nstep ? arena_printf("k%d_steps", n->id) : "NULL", k.ostride, k.orow, k.orstride);
    }
  }
}

// "// %4 = mask %3 : f32[B,3]  (scope)": a node's IR line
static void node_line(FILE *out, const char *lead, IrNode *n) {
  fprintf(out, "%s%%%d = %s", lead, n->id, op_info[n->op].name);
  for (int k = 0; k < n->nin; k++) fprintf(out, "%s%%%d", k ? ", " : " ", n->in[k]->id);
  fprintf(out, " : ");
  shape_comment(out, n);
  if (n->scope && n->scope[0]) fprintf(out, "  (%s)", n->scope);
  fputc('\n', out);
}

static void emit_calls(Lowered *l, Vec *v, int from, int to, FILE *out) {
  for (int i = from; i < to; i++) {
    IrNode *n = v->items[i];
    Fused *f = l->fused[n->id];
    if (f) {
      fprintf(out, "  // fused: %d steps\n", f->nstep);
      for (int s = 0; s < f->nstep; s++)
        if (!s || f->member[s] != f->member[s - 1]) node_line(out, "  //   ", f->member[s]);   // a concat's puts: once
    } else {
      node_line(out, "  // ", n);
    }
    fprintf(out, "  {\n");
    IrNode *const *ops;
    int nin = kernel_args(l, n, &ops);
    if (nin) {
      fprintf(out, "    const void *in[%d] = {", nin);
      for (int k = 0; k < nin; k++) {
        bool training_only = store_for_training(l, v, i, k);
        fprintf(out, "%s%s%s%s", k ? ", " : "", training_only ? "ctx->loss ? " : "",
                in_slice(l, n, ops[k]) ? "NULL" : buf_expr(l, ops[k]), training_only ? " : NULL" : "");
      }
      fprintf(out, "};\n");
    } else {
      fprintf(out, "    const void *const *in = NULL;\n");
    }
    fprintf(out, "    dmc_kernel_f32(&k%d, B, %s, in, ctx->seed, ctx->training);\n  }\n", n->id, buf_expr(l, n));
  }
}

static void emit_record(FILE *out, const char *name, const Record *r) {
  if (!r) {
    fprintf(out, "{NULL, 0, NULL, NULL, NULL}");
    return;
  }
  fprintf(out, "{");
  c_string(out, r->name);
  fprintf(out, ", %d, %s_keys, %s_vals, %s_strs}", r->n, name, name, name);
}

static void emit_record_arrays(FILE *out, const char *name, const Record *r) {
  if (!r) return;
  int n = r->n ? r->n : 1;
  fprintf(out, "static const char *const %s_keys[%d] = {", name, n);
  for (int i = 0; i < r->n; i++) {
    if (i) fprintf(out, ", ");
    c_string(out, r->keys[i]);
  }
  fprintf(out, "%s};\nstatic const double %s_vals[%d] = {", r->n ? "" : "NULL", name, n);
  for (int i = 0; i < r->n; i++) fprintf(out, "%s%.17g", i ? ", " : "", r->vals[i]);
  fprintf(out, "%s};\nstatic const char *const %s_strs[%d] = {", r->n ? "" : "0", name, n);
  for (int i = 0; i < r->n; i++) {
    if (i) fprintf(out, ", ");
    c_string(out, r->svals[i]);
  }
  fprintf(out, "%s};\n", r->n ? "" : "NULL");
}

static Feature *vocab_root(Feature *f) {
  while (f->vocab_of && f->vocab_of != f) f = f->vocab_of;
  return f;
}

static int feature_index(Graph *g, Feature *f) {
  for (int i = 0; i < g->features.len; i++)
    if (g->features.items[i] == f) return i;
  die("feature %s is not in the graph", f->name);
}

static int input_index(Lowered *l, IrNode *n) {
  for (int i = 0; n && i < l->inputs.len; i++)
    if (l->inputs.items[i] == n) return i;
  return -1;
}

void cgen_emit(Lowered *l, const char *source_name, FILE *out) {
  Graph *g = l->g;
  fprintf(out,
          "// %s: generated by dmc from %s. Do not edit: change the model and recompile.\n"
          "// Dimension legend: B = rows in the batch; every shape below is per example\n"
          "// ([B,...] batched, [...] one copy for the whole batch).\n"
          "#include <stdint.h>\n#include <string.h>\n\n#include \"dmc_abi.h\"\n#include \"kernels.h\"\n\n",
          g->model_name, source_name);
  emit_kernels(l, out);
  fprintf(out, "\nstatic void dmc_forward(const DmcCtx *ctx) {\n  const int B = ctx->batch;\n  float *const W = ctx->workspace;\n");
  if (l->nprep) {
    fprintf(out, "  if (dmc_params_stale(ctx)) {   // the values of the parameters alone (compiler/prepare.c)\n");
    emit_calls(l, &l->forward, 0, l->nprep, out);
    fprintf(out, "  }\n");
  }
  emit_calls(l, &l->forward, l->nprep, l->nscore, out);
  fprintf(out, "  if (!ctx->loss) return;   // scoring only: the rest computes the losses (compiler/loss_last.c)\n");
  emit_calls(l, &l->forward, l->nscore, l->forward.len, out);
  fprintf(out, "  memcpy(ctx->loss, %s, sizeof(float) * (size_t)B);   // the per-example total loss\n}\n\n",
          buf_expr(l, g->total_loss));
  fprintf(out, "static void dmc_backward(const DmcCtx *ctx) {\n  const int B = ctx->batch;\n  float *const W = ctx->workspace;\n");
  emit_calls(l, &l->backward, 0, l->backward.len, out);
  for (int i = 0; i < g->params.len; i++) {
    IrNode *gn = g->grads.items[i];
    Param *p = g->params.items[i];
    if (!gn && !p->is_table)   // no path to a loss: zero, so every gradient block is written each step
      fprintf(out, "  memset(ctx->grads + %lld, 0, sizeof(float) * %d);   // d/d %s\n", (long long)l->param_offset[i],
              shape_numel(p->shape), p->name);
    if (!gn || l->buf[gn->id].kind == BUF_GRAD) continue;   // computed in place
    fprintf(out, "  memcpy(ctx->grads + %lld, %s, sizeof(float) * %d);   // d/d %s\n", (long long)l->param_offset[i],
            buf_expr(l, gn), shape_numel(p->shape), p->name);
  }
  fprintf(out, "}\n\nstatic int64_t dmc_workspace_floats(int max_batch) {\n  return %lld + %lld * (int64_t)max_batch;\n}\n\n",
          (long long)l->ws_fixed, (long long)l->ws_per_row);

  // features
  for (int i = 0; i < g->features.len; i++) {
    Feature *f = g->features.items[i];
    fprintf(out, "static const char *const f%d_columns[%d] = {", i, f->columns.len ? f->columns.len : 1);
    for (int k = 0; k < f->columns.len; k++) {
      if (k) fprintf(out, ", ");
      c_string(out, f->columns.items[k]);
    }
    fprintf(out, "%s};\n", f->columns.len ? "" : "NULL");
    fprintf(out, "static const int f%d_sources[%d] = {", i, f->sources.len ? f->sources.len : 1);
    for (int k = 0; k < f->sources.len; k++) fprintf(out, "%s%d", k ? ", " : "", feature_index(g, f->sources.items[k]));
    fprintf(out, "%s};\n", f->sources.len ? "" : "0");
  }
  fprintf(out, "static const DmcFeature features[%d] = {\n", g->features.len ? g->features.len : 1);
  for (int i = 0; i < g->features.len; i++) {
    Feature *f = g->features.items[i];
    Feature *root = vocab_root(f->kind == FK_NEGATIVE ? (Feature *)f->sources.items[0] : f);
    fprintf(out, "  {");
    c_string(out, f->name);
    fprintf(out, ", %s, %d, %d, f%d_columns, ", feature_kinds[f->kind], f->is_list ? f->len : 0, f->columns.len, i);
    c_char(out, f->sep);
    fprintf(out, ", ");
    c_char(out, f->kv);
    fprintf(out, ", %lld, %d, %d, %d, %d, (float)%.9g, %d, %d, f%d_sources, %d, %d, %d, ", (long long)f->vocab, f->min_count,
            f->normalize, f->log1p, f->has_default, f->dflt, f->next_row, f->sources.len, i, feature_index(g, root),
            input_index(l, f->node && f->node->live ? f->node : NULL),
            input_index(l, f->weights && f->weights->live ? f->weights : NULL));
    c_string(out, f->value_column);
    fprintf(out, "},\n");
  }
  fprintf(out, "};\n\nstatic const DmcInput inputs[%d] = {\n", l->inputs.len ? l->inputs.len : 1);
  for (int i = 0; i < l->inputs.len; i++) {
    IrNode *n = l->inputs.items[i];
    fprintf(out, "  {");
    c_string(out, n->name);
    fprintf(out, ", %s, %d},\n", n->dt == DT_I32 ? "DMC_I32" : "DMC_F32", shape_numel(n->shape));
  }
  fprintf(out, "};\n\n");

  // parameters
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    emit_record_arrays(out, arena_printf("p%d_init", i), p->init);
    emit_record_arrays(out, arena_printf("p%d_opt", i), p->optimizer);
  }
  fprintf(out, "static const DmcParam params[%d] = {\n", g->params.len ? g->params.len : 1);
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    int lag_of = -1;
    for (int k = 0; p->lagged && k < g->params.len; k++)
      if (!strcmp(((Param *)g->params.items[k])->name, p->lag_of)) lag_of = k;
    fprintf(out, "  {");
    c_string(out, p->name);
    fprintf(out, ", %d, {%d, %d, %d, %d}, %d, %lld, %d, ", p->shape.rank, p->shape.dim[0], p->shape.dim[1],
            p->shape.dim[2], p->shape.dim[3], shape_numel(p->shape), (long long)l->param_offset[i], p->is_table);
    emit_record(out, arena_printf("p%d_init", i), p->init);
    fprintf(out, ", ");
    emit_record(out, arena_printf("p%d_opt", i), p->optimizer);
    fprintf(out, ", %d, %d, %d},\n", lag_of, p->lag_every, p->is_stat);
  }
  fprintf(out, "};\n\nstatic const DmcOutput outputs[%d] = {\n", g->outputs.len ? g->outputs.len : 1);
  for (int i = 0; i < g->outputs.len; i++) {
    Output *o = g->outputs.items[i];
    Buf *b = &l->buf[o->node->id];
    if (b->kind != BUF_WORK) die("output %s is not computed", o->name);
    fprintf(out, "  {");
    c_string(out, o->name);
    fprintf(out, ", %d, %lld, %lld},\n", shape_numel(o->node->shape), (long long)b->fixed, (long long)b->per_row);
  }
  fprintf(out, "};\n\nstatic const DmcSparseGrad sparse[%d] = {\n", g->sparse.len ? g->sparse.len : 1);
  for (int i = 0; i < g->sparse.len; i++) {
    SparseGrad *s = g->sparse.items[i];
    int pi = 0;
    while (((Param *)g->params.items[pi]) != s->param) pi++;
    Buf *b = &l->buf[(s->rows ? s->rows : s->coef)->id], *v = s->vec ? &l->buf[s->vec->id] : NULL;
    fprintf(out, "  {%d, %d, %d, %d, %lld, %lld, %lld, %lld},\n", pi, input_index(l, s->ids), shape_numel(s->ids->shape),
            s->param->shape.dim[1], (long long)b->fixed, (long long)b->per_row, v ? (long long)v->fixed : 0LL,
            v ? (long long)v->per_row : 0LL);
  }
  fprintf(out, "};\n\n");
  emit_record_arrays(out, "opt_dense", g->optimizer);
  emit_record_arrays(out, "opt_sparse", g->sparse_optimizer);
  fprintf(out, "const DmcModel dmc_model = {\n  DMC_ABI_VERSION, ");
  c_string(out, g->model_name);
  fprintf(out, ", 0x%016llxULL, ", (unsigned long long)l->signature);
  c_char(out, (char[]){g->delimiter, 0});
  fprintf(out, ", ");
  c_string(out, g->next_by);
  fprintf(out, ", ");
  c_string(out, g->next_order);
  fprintf(out, ",\n  %d, features, %d, inputs, %d, params, %lld, %d, outputs, %d, sparse,\n  ", g->features.len,
          l->inputs.len, g->params.len, (long long)l->params_size, g->outputs.len, g->sparse.len);
  emit_record(out, "opt_dense", g->optimizer);
  fprintf(out, ", ");
  emit_record(out, "opt_sparse", g->sparse_optimizer);
  int r_out = -1, r_table = -1, r_target = -1, h_out, h_feature;
  cgen_retrieval(g, &r_out, &r_table, &r_target);
  cgen_heldout(g, &h_out, &h_feature);
  fprintf(out, ",\n  %d, %d, %d, %.17g,\n  dmc_workspace_floats, dmc_forward, dmc_backward,\n  %d, %d, %d,\n  ", g->batch,
          g->epochs, g->seed, g->l2, r_out, r_table, r_target);
  c_string(out, g->group_by);
  fprintf(out, ", %d, %d,\n};\n", h_out, h_feature);
}

// Indices of the output that held-out rows are scored on and of its pair-source
// feature (-1 when the model has none: no group_by, or no masked_mse over such a feature).
void cgen_heldout(Graph *g, int *output, int *feature) {
  *output = *feature = -1;
  if (!g->group_by || !g->heldout_pred) return;
  for (int i = 0; i < g->outputs.len && *output < 0; i++)
    if (((Output *)g->outputs.items[i])->node == g->heldout_pred) *output = i;
  *feature = feature_index(g, g->heldout_target);
}

// Indices of the retrieval output, table and target feature (-1 without retrieval).
void cgen_retrieval(Graph *g, int *output, int *table, int *target) {
  *output = *table = *target = -1;
  if (!g->retrieve_user) return;
  for (int i = 0; i < g->outputs.len; i++)
    if (((Output *)g->outputs.items[i])->node == g->retrieve_user && *output < 0) *output = i;
  for (int i = 0; i < g->params.len; i++)
    if (g->params.items[i] == g->retrieve_table) *table = i;
  *target = feature_index(g, g->retrieve_target);
}

// Every model the front end accepts compiles to a program today; a construct that
// checks but has no code generation yet is refused here, located.
bool cgen_check_supported(Graph *g) {
  (void)g;
  return true;
}
