// test_grad.c: every differentiable op's gradient rule against finite
// differences, in the double-precision interpreter. Each case is a small model
// that routes parameters through a family of ops; the analytic gradient of the
// batch's mean loss (dense and sparse) must match central differences.
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"

static Graph *compile_rewritten(const char *text, bool rewrite) {
  diag_reset();
  Node *prog = parse_file(src_from_string("grad.model", text));
  if (diag_error_count()) return NULL;
  Graph *g = sema_build(prog, NULL);
  if (diag_error_count()) return NULL;
  ir_build_training(g, rewrite);
  return g;
}

static Graph *compile_text(const char *text) { return compile_rewritten(text, true); }

static double urand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return ((*s >> 8) & 0xffff) / 65536.0;
}

static void fill(Interp *it, Graph *g, int B, unsigned seed) {
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (n->op != OP_INPUT && n->op != OP_PARAM) continue;
    int64_t count = (int64_t)shape_numel(n->shape) * (n->batched ? B : 1);
    if (n->dt == DT_I32) {
      Feature *f = (Feature *)n->ref;
      int32_t *v = interp_buffer(it, n);
      for (int64_t k = 0; k < count; k++) {
        int32_t id = 1 + (int32_t)(urand(&seed) * (double)(f->vocab - 1));
        v[k] = (f->is_list && urand(&seed) < 0.25) ? 0 : id;   // some padding in lists
      }
      if (f->is_list)
        for (int b = 0; b < B; b++) v[(int64_t)b * f->len] = 1 + b % 3;   // never an empty list
    } else {
      double *v = interp_buffer(it, n);
      bool label = n->op == OP_INPUT && ((Feature *)n->ref)->kind == FK_LABEL;
      for (int64_t k = 0; k < count; k++) v[k] = label ? (urand(&seed) < 0.5) : 2 * urand(&seed) - 1;
    }
  }
}

// Training mode: standardize uses the batch's statistics, which its gradient
// rule differentiates (the running statistics it also updates do not enter).
static double mean_loss(Interp *it, Graph *g, int B) {
  interp_run(it, true);
  double *l = interp_buffer(it, g->total_loss);
  double s = 0;
  for (int b = 0; b < B; b++) s += l[b];
  return s / B;
}

// The analytic gradient of parameter p, dense or gathered from sparse rows.
static double *analytic(Interp *it, Graph *g, int pi, int B) {
  Param *p = g->params.items[pi];
  int64_t n = shape_numel(p->shape);
  double *out = calloc((size_t)n, sizeof(double));
  IrNode *gn = g->grads.items[pi];
  if (gn) memcpy(out, interp_buffer(it, gn), sizeof(double) * (size_t)n);
  for (int s = 0; s < g->sparse.len; s++) {
    SparseGrad *sg = g->sparse.items[s];
    if (sg->param != p) continue;
    int D = p->shape.dim[1];
    int64_t per = shape_numel(sg->ids->shape);
    int32_t *ids = interp_buffer(it, sg->ids);
    double *rows = interp_buffer(it, sg->rows);
    for (int64_t r = 0; r < per * B; r++)
      for (int d = 0; d < D; d++) out[(int64_t)ids[r] * D + d] += rows[r * D + d];
  }
  return out;
}

static void check_model(const char *name, const char *text) {
  Graph *g = compile_text(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  const int B = 3;
  Interp *it = interp_new(g, B);
  fill(it, g, B, 7);
  mean_loss(it, g, B);
  double worst = 0;
  const char *worst_p = "";
  for (int pi = 0; pi < g->params.len; pi++) {
    Param *p = g->params.items[pi];
    if (p->lagged) continue;
    double *an = analytic(it, g, pi, B);
    double *w = interp_buffer(it, p->node);
    int64_t n = shape_numel(p->shape);
    for (int64_t k = 0; k < n; k++) {
      double keep = w[k], h = 1e-6;
      w[k] = keep + h;
      double up = mean_loss(it, g, B);
      w[k] = keep - h;
      double down = mean_loss(it, g, B);
      w[k] = keep;
      double num = (up - down) / (2 * h);
      double err = fabs(num - an[k]) / fmax(1e-4, fabs(num) + fabs(an[k]));
      if (err > worst) worst = err, worst_p = p->name;
    }
    free(an);
    mean_loss(it, g, B);   // restore every buffer to the unperturbed state
  }
  if (worst > 1e-5) printf("\n  %s: worst relative gradient error %.3g in %s\n", name, worst, worst_p);
  CU_ASSERT(worst <= 1e-5);
  interp_free(it);
}

#define HEAD "model m\nfeature u : id from u vocab 7\nfeature h : id[4] from h1..h4 vocab 9\n" \
             "feature s : float[3] from a, b, c\nlabel y from y\n"

static void test_elementwise(void) {
  check_model("elementwise", HEAD
              "w1 = param([3])\nw2 = param([3])\nw3 = param([3])\n"
              "a = w1 * s\nb = w2 * s\nc = w3 * s\n"
              "z = tanh(a) + exp(0 - abs(b)) / (2 + relu(c)) - max(a, b) * min(a, c) + sqrt(square(a) + 1) + log(2 + b) - sigmoid(-c)\n"
              "p = sigmoid(sum(z))\noutput p\nloss bce(p, y)\n");
}

static void test_dense_and_moves(void) {
  check_model("dense and moves", HEAD
              "e = embed(h, 2)\nx = concat(embed(u, 3), s, sum(e, axis=0))\n"
              "t = transpose(reshape(dense(x, 6), [2, 3]))\n"
              "k = slice(t, 0, 1, 2)\n"
              "q = expand(sum(k, axis=1), 1, 4)\n"
              "p = sigmoid(mean(dense(reshape(q, [8]), 1)))\noutput p\nloss bce(p, y)\n");
}

static void test_masked_reductions(void) {
  check_model("masked reductions", HEAD
              "e = embed(h, 3)\nq = embed(u, 3)\n"
              "w = softmax(sum(e * q, axis=1), axis=0)\n"
              "v = sum(e * reshape(w, [4, 1]), axis=0) + mean(e, axis=0) + max(e, axis=0)\n"
              "p = sigmoid(sum(v) + sum(standardize(s)))\noutput p\nloss bce(p, y)\n");
}

static void test_batched_matmul(void) {
  check_model("batched matmul", HEAD
              "e = embed(h, 3)\nm = dense(e, 3)\n"
              "o = transpose(e) @ m\n"
              "p = sigmoid(sum(o) / 10)\noutput p\nloss mse(p, y)\n");
}

// triu of a per-example Gram matrix (stdlib's inner_product) and of a stack of them
static void test_triu(void) {
  check_model("triu", HEAD
              "e = embed(h, 3)\nm = dense(e, 3)\n"
              "t = triu(e @ transpose(m)) * dense(s, 6)\n"
              "g = triu(stack(reshape(dense(s, 4), [2, 2]), reshape(dense(s, 4), [2, 2]), axis=0))\n"
              "p = sigmoid(sum(t) + sum(g))\noutput p\nloss bce(p, y)\n");
}

// the products of all pairs of rows (AFM's interaction layer), into a dense layer and a weighted sum
static void test_pairwise_products(void) {
  check_model("pairwise_products", HEAD
              "e = embed(h, 3)\npp = pairwise_products(e * dense(s, 3))\n"
              "p = sigmoid(sum(dense(pp, 2)) + sum(pp * dense(s, 3)))\noutput p\nloss bce(p, y)\n");
}

// AFM's attention pooling in one kernel (runtime/afm_impl.h), through the
// interaction rows of several fields and into the loss
static void test_afm_pool(void) {
  check_model("afm_pool", HEAD
              "e = stack(embed(u, 3), sum(embed(h, 3), axis=0), dense(s, 3), embed(u, 3) * 2.0, axis=0)\n"
              "w = param([3, 4])\nb = param([4])\nv = param([4])\n"
              "p = sigmoid(sum(afm_pool(e, w, b, v) * dense(s, 3)))\noutput p\nloss bce(p, y)\n");
  // k = 16: rows of two whole vectors of doubles (afm_impl.h keeps de_i's in registers)
  check_model("afm_pool of whole vectors", HEAD
              "e = stack(embed(u, 16), sum(embed(h, 16), axis=0), dense(s, 16), embed(u, 16) * 2.0, axis=0)\n"
              "w = param([16, 3])\nb = param([3])\nv = param([3])\n"
              "p = sigmoid(sum(afm_pool(e, w, b, v) * dense(s, 16)))\noutput p\nloss bce(p, y)\n");
  // t = 256: chunks of 16 pairs (afm_impl.h), so 21 pairs are two, recomputed per pass
  check_model("afm_pool in chunks", HEAD
              "e = stack(embed(u, 2), sum(embed(h, 2), axis=0), dense(s, 2), embed(u, 2) * 2.0,\n"
              "          dense(s, 2) - 1.0, mean(embed(h, 2), axis=0), dense(s, 2), axis=0)\n"
              "w = param([2, 256], init=normal(0.3))\nb = param([256], init=normal(0.3))\nv = param([256], init=normal(0.3))\n"
              "p = sigmoid(sum(afm_pool(e, w, b, v) * dense(s, 2)))\noutput p\nloss bce(p, y)\n");
}

// afm_pool equals the ops it stands for (stdlib's earlier afm_attention): the
// kernel's transposed chunks, triu order and softmax against the plain ops
static void afm_pool_against_ops(const char *e, int f, int t) {
  int P = f * (f - 1) / 2;
  char text[2048];
  snprintf(text, sizeof text,
           HEAD "e = %s\nw = param([3, %d], init=normal(0.5))\nb = param([%d], init=normal(0.5))\n"
                "v = param([%d], init=normal(0.5))\npp = pairwise_products(e)\n"
                "sc = relu(pp @ w + b) @ reshape(v, [%d, 1])\na = softmax(reshape(sc, [%d]), axis=0)\n"
                "got = afm_pool(e, w, b, v)\nwant = sum(expand(a, 1, 3) * pp, axis=0)\n"
                "output got\noutput want\np = sigmoid(sum(got))\nloss bce(p, y)\n",
           e, t, t, t, t, P);
  Graph *g = compile_text(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  const int B = 4;
  Interp *it = interp_new(g, B);
  fill(it, g, B, 11);
  interp_run(it, false);
  CU_ASSERT_EQUAL_FATAL(g->outputs.len, 2);
  double *got = interp_buffer(it, ((Output *)g->outputs.items[0])->node);
  double *want = interp_buffer(it, ((Output *)g->outputs.items[1])->node);
  double worst = 0;
  for (int i = 0; i < B * 3; i++) worst = fmax(worst, fabs(got[i] - want[i]) / fmax(1e-9, fabs(want[i])));
  if (worst >= 1e-12) printf("\n  afm_pool of %d fields, t = %d: worst relative difference %.3g\n", f, t, worst);
  CU_ASSERT(worst < 1e-12);
  interp_free(it);
}

static void test_afm_pool_forward(void) {
  const char *five = "stack(embed(u, 3), sum(embed(h, 3), axis=0), dense(s, 3), embed(u, 3) * 2.0, dense(s, 3) - 1.0, axis=0)";
  // 12 fields: runs of up to 11 pairs, longer than a vector of doubles; 66 pairs, so
  // the weighted sum runs on X^T's columns (afm_impl.h), in chunks when t = 256
  const char *twelve = "stack(embed(u, 3), sum(embed(h, 3), axis=0), dense(s, 3), embed(u, 3) * 2.0,\n"
                       "  dense(s, 3) - 1.0, dense(s, 3), dense(s, 3), embed(u, 3) - 0.5,\n"
                       "  mean(embed(h, 3), axis=0), dense(s, 3) * 3.0, dense(s, 3), embed(u, 3), axis=0)";
  afm_pool_against_ops(five, 5, 4);
  afm_pool_against_ops(five, 5, 256);
  afm_pool_against_ops(twelve, 12, 4);
  afm_pool_against_ops(twelve, 12, 256);
}

// Every value of afm_pool_grad's rows is written, W's, b's and h's zeros too in the
// rows after a group's first (the runtime's workspace holds other kernels' values)
static void test_afm_pool_rows(void) {
  Graph *g = compile_text(HEAD "e = stack(embed(u, 3), sum(embed(h, 3), axis=0), dense(s, 3), axis=0)\n"
                               "w = param([3, 4])\nb = param([4])\nv = param([4])\n"
                               "p = sigmoid(sum(afm_pool(e, w, b, v)))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  const int B = 5;
  Interp *it = interp_new(g, B);
  fill(it, g, B, 5);
  IrNode *grad = NULL;
  for (int i = 0; i < g->nodes.len; i++)
    if (((IrNode *)g->nodes.items[i])->op == OP_AFM_POOL_GRAD) grad = g->nodes.items[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(grad);
  double *r = interp_buffer(it, grad);
  int64_t n = B * shape_numel(grad->shape);
  for (int64_t i = 0; i < n; i++) r[i] = NAN;
  interp_run(it, true);
  int finite = 0;
  for (int64_t i = 0; i < n; i++) finite += isfinite(r[i]) != 0;
  CU_ASSERT_EQUAL(finite, n);
  interp_free(it);
}

static void test_losses(void) {
  check_model("losses", HEAD
              "feature w : weighted[3] from ws sep \",\" vocab 6\n"
              "logits = dense(s, 7)\n"
              "r = dense(densify(w), 6)\n"
              "p = sigmoid(sum(r))\noutput p\n"
              "loss softmax_ce(logits, u)\nloss masked_mse(r, w)\nloss 0.5 * mse(p, y)\n");
}

static void test_sampled_softmax(void) {
  check_model("sampled softmax", HEAD
              "feature t : id from t vocab 9\ntable out[9, 3]\n"
              "v = dense(s, 3)\noutput v\n"
              "loss sampled_softmax(v, out, t, samples=4)\n");
}

static void test_shared_table(void) {
  check_model("shared table", HEAD
              "feature v : id from v vocab 9\ntable items[9, 2]\n"
              "a = embed(v, items)\nb = embed(h, items)\n"
              "p = sigmoid(sum(a * sum(b, axis=0)))\noutput p\nloss bce(p, y)\n");
}

// The recurrence and its one-kernel backward (runtime/rnn_impl.h), both directions,
// on padded steps, with a differentiable update-gate scale.
static void test_gru(void) {
  check_model("augru scan", HEAD
              "e = embed(h, 3)\nm = mask(e)\n"
              "a = softmax(sum(e, axis=1), axis=0)\n"
              "w1 = param([2, 6])\nw2 = param([2, 6])\n"
              "f = augru_scan(concat(dense(e, 2), dense(e, 2), dense(e, 2), axis=1), m, m, w1)\n"
              "r = augru_scan(dense(f, 6), a, m, w2, reverse=true)\n"
              "c = softmax(sum(r, axis=1), axis=0, mask=m)\n"   // explicit mask on computed states
              "p = sigmoid(sum(r) + sum(f * f) + sum(c * sum(f, axis=1)))\noutput p\nloss bce(p, y)\n");
}

// DIN's first attention layer on concat(qs, k, qs - k, qs * k) and a sum of parts:
// split_matmul.c multiplies q once per example and distributes the difference. The
// gradients of the rewritten graph, and its values against the graph as written.
#define SPLIT HEAD "e = embed(h, 3)\nq = embed(u, 3)\nqs = expand(q, 0, 4)\n" \
                   "z = dense(concat(qs, e, qs - e, qs * e, e + qs, qs, e, e, qs), 5, act=sigmoid)\n" \
                   "p = sigmoid(sum(dense(z, 1)))\noutput p\nloss bce(p, y)\n"

static int count_op(Graph *g, Op op) {
  int n = 0;
  for (int i = 0; i < g->nodes.len; i++) n += ((IrNode *)g->nodes.items[i])->op == op;
  return n;
}

static void test_split_matmul(void) {
  check_model("split matmul", SPLIT);
  Graph *a = compile_rewritten(SPLIT, false), *b = compile_rewritten(SPLIT, true);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT(count_op(b, OP_SLICE) > count_op(a, OP_SLICE));   // it did rewrite: W's blocks
  CU_ASSERT_EQUAL(a->signature, b->signature);                // and the checkpoints stay the same
  enum { B = 3 };
  Interp *ia = interp_new(a, B), *ib = interp_new(b, B);
  fill(ia, a, B, 5);
  fill(ib, b, B, 5);
  interp_run(ia, false);
  interp_run(ib, false);
  Output *oa = a->outputs.items[0], *ob = b->outputs.items[0];
  double *pa = interp_buffer(ia, oa->node), *pb = interp_buffer(ib, ob->node), worst = 0;
  for (int i = 0; i < B; i++) worst = fmax(worst, fabs(pa[i] - pb[i]));
  CU_ASSERT(worst < 1e-12);
  interp_free(ia), interp_free(ib);
}

// Two dropout layers of one width must not drop the same units (each has its own stream).
static void test_dropout_masks_differ(void) {
  Graph *g = compile_text(HEAD "a = dropout(dense(s, 64), 0.5)\nb = dropout(dense(s, 64), 0.5)\n"
                               "p = sigmoid(sum(a * b))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  Interp *it = interp_new(g, 2);
  fill(it, g, 2, 3);
  interp_run(it, true);
  IrNode *m[2] = {NULL, NULL};
  for (int i = 0, k = 0; i < g->nodes.len && k < 2; i++)
    if (((IrNode *)g->nodes.items[i])->op == OP_DROPMASK) m[k++] = g->nodes.items[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(m[1]);
  double *x = interp_buffer(it, m[0]), *y = interp_buffer(it, m[1]);
  int same = 0, kept = 0;
  for (int i = 0; i < 128; i++) same += x[i] == y[i], kept += x[i] != 0;
  CU_ASSERT(same < 100);              // independent masks agree on about half the units
  CU_ASSERT(kept > 40 && kept < 88);  // and keep about half
  interp_free(it);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  CU_pSuite s = CU_add_suite("gradients", NULL, NULL);
  CU_add_test(s, "elementwise", test_elementwise);
  CU_add_test(s, "dense and moves", test_dense_and_moves);
  CU_add_test(s, "masked reductions", test_masked_reductions);
  CU_add_test(s, "triu", test_triu);
  CU_add_test(s, "pairwise_products", test_pairwise_products);
  CU_add_test(s, "afm_pool", test_afm_pool);
  CU_add_test(s, "afm_pool equals its ops", test_afm_pool_forward);
  CU_add_test(s, "afm_pool_grad writes its rows", test_afm_pool_rows);
  CU_add_test(s, "batched matmul", test_batched_matmul);
  CU_add_test(s, "augru scan", test_gru);
  CU_add_test(s, "losses", test_losses);
  CU_add_test(s, "shared table", test_shared_table);
  CU_add_test(s, "sampled softmax", test_sampled_softmax);
  CU_add_test(s, "split matmul", test_split_matmul);
  CU_add_test(s, "dropout masks differ", test_dropout_masks_differ);
  CU_basic_set_mode(CU_BRM_NORMAL);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  arena_free_all();
  return failures ? 1 : 0;
}
