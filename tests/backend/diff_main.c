// diff_main.c: checks a generated model against the reference interpreter.
// Linked with one model's generated C (dmc_model), the compiler library (for
// the interpreter) and the runtime's kernels. Builds the same graph from the
// .model file, feeds both the same random inputs and parameters, runs forward
// and backward, and compares the loss, every output, every dense gradient and
// every table's row gradients. Exit 1 on any difference beyond tolerance.
// With save=FILE it also writes everything it compared to FILE; with
// against=FILE it also compares it with what another build (the other backend)
// saved there, within 1e-5 relative (tests/llvm_backend.sh).
//   usage: diff_main MODEL.model STDLIB_DIR [BATCH [save=FILE|against=FILE]]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "dmc.h"
#include "dmc_abi.h"

static double worst, worst_pair;
static const char *worst_what = "", *worst_pair_what = "";
static FILE *save, *against;
static bool against_bad;

// Relative differences; an element near zero is measured against 1% of the tensor's
// largest magnitude (at least 1e-3): a long float sum (AutoRec's 500-wide decoder) is
// rounded relative to its terms, not to its result, which can cancel to nearly 0.
static void compare(const char *what, const float *got, const double *want, int64_t n) {
  double big = 0;
  for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(want[i]));
  for (int64_t i = 0; i < n; i++) {
    double err = fabs(got[i] - want[i]) / fmax(fmax(1e-3, 1e-2 * big), fabs(want[i]));
    if (isnan(err) || isnan(want[i])) err = INFINITY;   // a NaN on either side is a failure
    if (err > worst) worst = err, worst_what = what;
  }
  if (save && (fwrite(&n, sizeof n, 1, save) != 1 || fwrite(got, sizeof *got, (size_t)n, save) != (size_t)n)) {
    fprintf(stderr, "cannot write the saved results\n");
    exit(1);
  }
  if (against) {
    int64_t m = -1;
    float *other = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (fread(&m, sizeof m, 1, against) != 1 || m != n || fread(other, sizeof *other, (size_t)n, against) != (size_t)n) {
      fprintf(stderr, "%s: the other build saved different sizes\n", what);
      against_bad = true;
    } else {
      for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - other[i]) / fmax(1e-3, fabs((double)other[i]));
        if (err > worst_pair || isnan(err)) worst_pair = isnan(err) ? INFINITY : err, worst_pair_what = what;
      }
    }
    free(other);
  }
}

// The loss and every output of the last forward call, one after another.
static float *results(const DmcModel *m, const DmcCtx *ctx) {
  int64_t n = ctx->batch, at = ctx->batch;
  for (int i = 0; i < m->noutputs; i++) n += m->outputs[i].size * ctx->batch;
  float *r = malloc(sizeof(float) * (size_t)n);
  memcpy(r, ctx->loss, sizeof(float) * (size_t)ctx->batch);
  for (int i = 0; i < m->noutputs; i++, at += m->outputs[i - 1].size * ctx->batch)
    memcpy(r + at, dmc_ws_at(ctx, m->outputs[i].fixed, m->outputs[i].per_row),
           sizeof(float) * (size_t)(m->outputs[i].size * ctx->batch));
  return r;
}

static bool same_results(const DmcModel *m, const DmcCtx *ctx, const float *want, const char *what) {
  float *got = results(m, ctx);
  int64_t n = ctx->batch;
  for (int i = 0; i < m->noutputs; i++) n += m->outputs[i].size * ctx->batch;
  bool same = !memcmp(got, want, sizeof(float) * (size_t)n);
  if (!same) fprintf(stderr, "prepared values: %s gave other results\n", what);
  free(got);
  return same;
}

// Values of the parameters alone (compiler/prepare.c) are computed once for a
// params_version and kept in the workspace: the next inference call with that
// version must give the same results (nothing overwrote them, not even the
// backward pass), a new version after the parameters changed, or the same version
// on another parameter block, must give what a call that computes them all gives.
// Every parameter but running statistics times f.
static void scale_params(const DmcModel *m, float *w, float f) {
  for (int i = 0; i < m->nparams; i++)
    if (!m->params[i].is_stat)
      for (int64_t k = 0; k < m->params[i].size; k++) w[m->params[i].offset + k] *= f;
}

static bool check_prepared(const DmcModel *m, DmcCtx ctx, float *params) {
  ctx.training = 0, ctx.params_version = 1;
  m->forward(&ctx);
  float *first = results(m, &ctx);
  m->backward(&ctx);
  m->forward(&ctx);
  bool ok = same_results(m, &ctx, first, "a second call of the same version");
  scale_params(m, params, 0.5f);
  ctx.params_version = 2;
  m->forward(&ctx);
  float *next = results(m, &ctx);
  ctx.params_version = 0;   // every value computed
  m->forward(&ctx);
  ok &= same_results(m, &ctx, next, "a new version after the parameters changed");
  ctx.params_version = 2;
  m->forward(&ctx);
  float *changed = malloc(sizeof(float) * (size_t)m->params_size);
  memcpy(changed, params, sizeof(float) * (size_t)m->params_size);
  scale_params(m, changed, 2.0f);
  ctx.params = changed;   // the first parameters again, in another block, under the same version
  m->forward(&ctx);
  ok &= same_results(m, &ctx, first, "another parameter block");
  free(first), free(next), free(changed);
  return ok;
}

// A forward call with loss NULL computes the outputs alone (compiler/loss_last.c):
// on a workspace of NaNs, so that nothing left by an earlier call can stand in for
// a kernel it skipped, its outputs must be those of a call that computes everything.
static bool check_outputs_only(const DmcModel *m, DmcCtx ctx, int64_t ws_floats) {
  ctx.training = 0, ctx.params_version = 0;
  m->forward(&ctx);
  float *want = results(m, &ctx);
  for (int64_t k = 0; k < ws_floats; k++) ctx.workspace[k] = NAN;
  ctx.loss = NULL;
  m->forward(&ctx);
  bool same = true;
  int64_t at = ctx.batch;   // results: the loss, then each output
  for (int i = 0; i < m->noutputs; i++) {
    int64_t n = m->outputs[i].size * ctx.batch;
    same &= !memcmp(dmc_ws_at(&ctx, m->outputs[i].fixed, m->outputs[i].per_row), want + at, sizeof(float) * (size_t)n);
    at += n;
  }
  if (!same) fprintf(stderr, "a call with loss NULL gave other outputs\n");
  free(want);
  return same;
}

static Node *load_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return NULL;
  struct dirent *e;
  char *names[64];
  int n = 0;
  while ((e = readdir(d)) && n < 64) {
    size_t len = strlen(e->d_name);
    if (len > 6 && !strcmp(e->d_name + len - 6, ".model")) names[n++] = arena_strdup(e->d_name);
  }
  closedir(d);
  for (int i = 0; i < n; i++)   // name order, as dmc loads them
    for (int j = i + 1; j < n; j++)
      if (strcmp(names[i], names[j]) > 0) {
        char *t = names[i];
        names[i] = names[j], names[j] = t;
      }
  Node *all = NULL;
  for (int i = 0; i < n; i++) all = ast_append(all, parse_file(src_load(arena_printf("%s/%s", dir, names[i]))));
  return all;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.model STDLIB_DIR [BATCH]\n", argv[0]);
    return 2;
  }
  int B = argc > 3 ? atoi(argv[3]) : 4;
  if (argc > 4 && !strncmp(argv[4], "save=", 5)) save = fopen(argv[4] + 5, "wb");
  if (argc > 4 && !strncmp(argv[4], "against=", 8)) against = fopen(argv[4] + 8, "rb");
  if (argc > 4 && !save && !against) {
    fprintf(stderr, "%s: cannot open %s\n", argv[0], argv[4]);
    return 2;
  }
  Node *lib = load_dir(argv[2]);
  Graph *g = sema_build(parse_file(src_load(argv[1])), lib);
  if (diag_error_count()) return 2;
  ir_build_training(g, true);
  Lowered *l = lower_graph(g, true);
  const DmcModel *m = &dmc_model;
  if (m->signature != l->signature || m->ninputs != l->inputs.len || m->params_size != l->params_size) {
    fprintf(stderr, "%s: the generated program does not match this model\n", argv[1]);
    return 1;
  }
  Interp *it = interp_new(g, B);
  unsigned seed = 42;
  // inputs: ids within their vocabulary (padding in lists; a model whose text says
  // "diff: empty last example" gets lists of padding only in its last example, so
  // reductions and softmaxes over no real step are checked), floats in [-1, 1], labels 0/1
  bool empty_last = strstr(src_load(argv[1]), "diff: empty last example") != NULL;
  void **inputs = calloc((size_t)m->ninputs, sizeof(void *));
  for (int i = 0; i < m->ninputs; i++) {
    IrNode *n = l->inputs.items[i];
    Feature *f = (Feature *)n->ref;
    int64_t count = m->inputs[i].size * B;
    inputs[i] = calloc((size_t)count, 4);
    for (int64_t k = 0; k < count; k++) {
      seed = seed * 1103515245u + 12345u;
      double u = ((seed >> 8) & 0xffff) / 65536.0;
      if (n->dt == DT_I32) {
        int32_t id = 1 + (int32_t)(u * (double)(f->vocab - 1));
        if (f->is_list && k % f->len >= 2 && (seed & 0x30000) == 0) id = 0;   // padding after 2 items
        if (f->is_list && empty_last && B > 1 && k / m->inputs[i].size == B - 1) id = 0;
        ((int32_t *)inputs[i])[k] = id;
        ((int32_t *)interp_buffer(it, n))[k] = id;
      } else {
        float v = f->kind == FK_LABEL ? (float)(u < 0.5) : (float)(2 * u - 1);
        ((float *)inputs[i])[k] = v;
        ((double *)interp_buffer(it, n))[k] = v;
      }
    }
  }
  float *params = calloc((size_t)m->params_size, sizeof(float));
  for (int i = 0; i < g->params.len; i++) {
    Param *p = g->params.items[i];
    double *d = interp_buffer(it, p->node);
    for (int64_t k = 0; k < shape_numel(p->shape); k++) {
      seed = seed * 1103515245u + 12345u;
      float v = (float)((((seed >> 8) & 0xffff) / 65536.0 - 0.5) * 0.5);
      if (p->is_stat && strstr(p->name, "running_var")) v += 1;   // a variance is positive
      params[l->param_offset[i] + k] = v;
      d[k] = v;
    }
  }
  // NaN, not zeros: the backward must write every dense gradient (zeros where no loss reaches)
  float *grads = malloc(sizeof(float) * (size_t)(m->params_size ? m->params_size : 1));
  for (int64_t k = 0; grads && k < m->params_size; k++) grads[k] = NAN;
  float *ws = calloc((size_t)m->workspace_floats(B), sizeof(float));
  float *loss = calloc((size_t)B, sizeof(float));
  DmcCtx ctx = {B, 0, 7, (const void *const *)inputs, params, grads, ws, loss};
  m->forward(&ctx);
  m->backward(&ctx);
  interp_run(it, false);

  compare("loss", loss, interp_buffer(it, g->total_loss), B);
  for (int i = 0; i < m->noutputs; i++)
    compare(m->outputs[i].name, dmc_ws_at(&ctx, m->outputs[i].fixed, m->outputs[i].per_row),
            interp_buffer(it, ((Output *)g->outputs.items[i])->node), m->outputs[i].size * B);
  for (int i = 0; i < g->params.len; i++) {
    IrNode *gn = g->grads.items[i];
    Param *p = g->params.items[i];
    if (gn) compare(p->name, grads + l->param_offset[i], interp_buffer(it, gn), shape_numel(gn->shape));
    else if (!p->is_table) {   // no gradient in the graph: zeros
      double *zeros = calloc((size_t)shape_numel(p->shape), sizeof(double));
      if (!zeros) die("out of memory");
      compare(p->name, grads + l->param_offset[i], zeros, shape_numel(p->shape));
      free(zeros);
    }
  }
  for (int i = 0; i < m->nsparse; i++) {   // the rows, built from their factors when factored (both sides)
    const DmcSparseGrad *s = &m->sparse[i];
    SparseGrad *sg = g->sparse.items[i];
    int64_t n = s->ids_per_example * B, D = s->dim;
    float *got = malloc(sizeof(float) * (size_t)(n * D));
    double *want = sg->rows ? NULL : malloc(sizeof(double) * (size_t)(n * D));
    if (!got || (!sg->rows && !want)) die("out of memory");
    if ((s->vec_per_row != 0) != (sg->rows == NULL)) die("lookup %d: the program and the graph disagree on factoring", i);
    for (int64_t k = 0; k < n; k++) {
      const float *r = dmc_sparse_row(&ctx, s, k, got + k * D);
      if (r != got + k * D) memcpy(got + k * D, r, sizeof(float) * (size_t)D);
    }
    const double *coef = want ? interp_buffer(it, sg->coef) : NULL, *vec = want ? interp_buffer(it, sg->vec) : NULL;
    for (int64_t k = 0; want && k < n; k++)
      for (int64_t d = 0; d < D; d++) want[k * D + d] = coef[k] * vec[k / s->ids_per_example * D + d];
    compare(m->params[s->param].name, got, want ? want : interp_buffer(it, sg->rows), n * D);
    free(got);
    free(want);
  }
  int dense = 0;
  for (int i = 0; i < g->grads.len; i++) dense += g->grads.items[i] != NULL;
  printf("%s: %d outputs, %d dense gradients, %d table lookups; worst relative difference %.2g (%s)\n", argv[1],
         m->noutputs, dense, m->nsparse, worst, worst_what);
  if (save && fclose(save)) {
    fprintf(stderr, "cannot write the saved results\n");
    return 1;
  }
  if (against) {
    printf("%s: against the other backend: worst relative difference %.2g (%s)\n", argv[1], worst_pair, worst_pair_what);
    fclose(against);
    against_bad |= worst_pair > 1e-5;
  }
  bool prepared_ok = check_prepared(m, ctx, params) && check_outputs_only(m, ctx, m->workspace_floats(B));
  interp_free(it);
  for (int i = 0; i < m->ninputs; i++) free(inputs[i]);
  free(inputs), free(params), free(grads), free(ws), free(loss);
  arena_free_all();
  return worst > 1e-4 || against_bad || !prepared_ok ? 1 : 0;
}
