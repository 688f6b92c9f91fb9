// test_front.c: CUnit tests of the front end, stage by stage: lexer and parser
// (AST shapes and located syntax errors), sema (the graph a small program
// builds, and the errors it reports), the IR's shape rules and the verifier,
// where memory planning puts the gradients, and the FLOPs --report counts.
#include <CUnit/Basic.h>
#include <string.h>

#include "dmc.h"

static Node *parse(const char *text) {
  diag_reset();
  return parse_file(src_from_string("t.model", text));
}

static Graph *build(const char *text) {
  Node *prog = parse(text);
  if (diag_error_count()) return NULL;
  return sema_build(prog, NULL);
}

static IrNode *find_op(Graph *g, Op op, int nth) {
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (n->op == op && nth-- == 0) return n;
  }
  return NULL;
}

#define HEAD "model m\nfeature u : id from userId vocab 100\nfeature h : id[5] from h1..h5 vocab 50\n" \
             "feature s : float[3] from a, b, c normalize\nlabel y from label\n"

// ---- lexer and parser ----

static void test_parse_statements(void) {
  Node *p = parse("model m\nfeature u : id from userId vocab 100\nx = 1 + 2 * 3\n");
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  CU_ASSERT_EQUAL(ast_count(p), 3);
  CU_ASSERT_EQUAL(p->kind, ND_MODEL);
  CU_ASSERT_STRING_EQUAL(p->name, "m");
  Node *f = p->next;
  CU_ASSERT_EQUAL(f->kind, ND_FEATURE);
  CU_ASSERT_STRING_EQUAL(f->str, "id");
  CU_ASSERT_STRING_EQUAL(f->list2->str, "userId");
  CU_ASSERT_STRING_EQUAL(f->list->name, "vocab");
  CU_ASSERT_EQUAL(f->list->a->num, 100);
  Node *a = f->next;   // precedence: 1 + (2 * 3)
  CU_ASSERT_EQUAL(a->a->kind, ND_BINOP);
  CU_ASSERT_STRING_EQUAL(a->a->name, "+");
  CU_ASSERT_STRING_EQUAL(a->a->b->name, "*");
}

static void test_parse_locations(void) {
  Node *p = parse("model m\n  x = foo(1,\n    2)\n");
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  Node *call = p->next->a;
  CU_ASSERT_EQUAL(call->kind, ND_CALL);
  CU_ASSERT_EQUAL(call->loc.line, 2);
  CU_ASSERT_EQUAL(call->loc.col, 7);
  CU_ASSERT_EQUAL(ast_count(call->list), 2);   // the newline inside () is not a statement end
}

static void test_parse_call_vs_option(void) {
  // `normal(` is a call (option value); `normalize min_count` are two options
  Node *p = parse("table t[10, 4] init normal(0.01)\nfeature f : float from x normalize default 0\n");
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  CU_ASSERT_EQUAL(p->list->a->kind, ND_CALL);
  CU_ASSERT_EQUAL(ast_count(p->next->list), 2);
  CU_ASSERT_PTR_NULL(p->next->list->a);
}

static void test_parse_column_range_and_keyword_column(void) {
  Node *p = parse("feature h : id[5] from r1..r5 vocab 9\nlabel y from label\n");
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  CU_ASSERT_STRING_EQUAL(p->list2->str, "r1");
  CU_ASSERT_STRING_EQUAL(p->list2->b->name, "r5");
  CU_ASSERT_STRING_EQUAL(p->next->list2->str, "label");
}

static void test_parse_def_and_blocks(void) {
  Node *p = parse("def f(e[n, k], act=relu) -> [k] {\n  if n > 1 { x = 1 } else { x = 2 }\n  return sum(e, axis=0)\n}\n");
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  CU_ASSERT_EQUAL(p->kind, ND_DEF);
  CU_ASSERT_EQUAL(ast_count(p->list), 2);
  CU_ASSERT_TRUE(p->list->has_shape);
  CU_ASSERT_EQUAL(ast_count(p->list->list2), 2);
  CU_ASSERT_TRUE(p->has_shape);
  CU_ASSERT_EQUAL(ast_count(p->a->list), 2);
}

static void test_syntax_errors_recover(void) {
  parse("model m\nx = (1 +\ny = 2 +\nz = 3\n");
  CU_ASSERT_TRUE(diag_error_count() >= 1);
  parse("model m\nx = 1 +\ny = * 2\nz = 3 3\n");
  CU_ASSERT_EQUAL(diag_error_count(), 3);   // one per bad statement
}

static void test_lexer_errors(void) {
  parse("model m\nx = \"abc\n");
  CU_ASSERT_TRUE(diag_error_count() >= 1);
  parse("model m\nx = 12abc\n");
  CU_ASSERT_EQUAL(diag_error_count(), 1);
  parse("model m\nx = 1 $ 2\n");
  CU_ASSERT_TRUE(diag_error_count() >= 1);
}

// ---- sema ----

static void test_sema_embedding_and_mask(void) {
  Graph *g = build(HEAD "e = embed(h, 8)\nv = sum(e, axis=0)\np = sigmoid(sum(v))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  IrNode *gather = find_op(g, OP_GATHER, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gather);
  CU_ASSERT_EQUAL(gather->shape.rank, 2);
  CU_ASSERT_EQUAL(gather->shape.dim[0], 5);
  CU_ASSERT_EQUAL(gather->shape.dim[1], 8);
  CU_ASSERT_EQUAL(gather->in[0]->shape.dim[0], 50);   // table sized by the vocabulary
  IrNode *sum = find_op(g, OP_SUM, 0);
  CU_ASSERT_EQUAL(sum->nin, 2);                        // the padding mask rides along
  CU_ASSERT_EQUAL(sum->in[1]->op, OP_MASK);
  CU_ASSERT_EQUAL(g->outputs.len, 1);
  CU_ASSERT_EQUAL(g->losses.len, 1);
}

static void test_sema_def_inlining_and_params(void) {
  Graph *g = build(HEAD "def lin(x[n], k) {\n  return dense(x, k)\n}\n"
                        "a = lin(s, 4)\nb = lin(s, 4)\nc = lin(s, 4, name=\"shared\")\nd = lin(s, 4, name=\"shared\")\n"
                        "p = sigmoid(sum(a + b + c + d))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(diag_error_count(), 0);
  // two unnamed calls: two layers; the two named calls share one: 3 x (w, b)
  CU_ASSERT_EQUAL(g->params.len, 6);
  CU_ASSERT_STRING_EQUAL(((Param *)g->params.items[0])->name, "lin_0/dense_0/w");
  CU_ASSERT_STRING_EQUAL(((Param *)g->params.items[2])->name, "lin_1/dense_0/w");
  CU_ASSERT_STRING_EQUAL(((Param *)g->params.items[4])->name, "shared/dense_0/w");
}

static void test_sema_for_unrolls(void) {
  Graph *g = build(HEAD "x = s\nfor w in [8, 4, 2] {\n  x = relu(dense(x, w))\n}\np = sigmoid(sum(x))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_EQUAL(g->params.len, 6);
  CU_ASSERT_EQUAL(find_op(g, OP_RELU, 2)->shape.dim[0], 2);
  CU_ASSERT_PTR_NULL(find_op(g, OP_RELU, 3));
}

static void test_sema_errors(void) {
  build(HEAD "x = embed(u, 8) * embed(h, 8) + s\n");   // [8]*[5,8] fine, + [3] is not
  CU_ASSERT_EQUAL(diag_error_count(), 1);
  build(HEAD "x = u + 1\n");                           // arithmetic on ids
  CU_ASSERT_EQUAL(diag_error_count(), 1);
  build(HEAD "def f(x) {\n  return f(x)\n}\nz = f(s)\n");
  CU_ASSERT_EQUAL(diag_error_count(), 1);
  build(HEAD "z = nosuch(s)\nw = nosuch2\n");          // two errors, both reported
  CU_ASSERT_EQUAL(diag_error_count(), 2);
  build(HEAD "z = dense(s)\n");                        // missing argument
  CU_ASSERT_EQUAL(diag_error_count(), 1);
  build(HEAD "feature u : id from x vocab 10\n");      // duplicate definition
  CU_ASSERT_EQUAL(diag_error_count(), 1);
}

static void test_sema_poison_does_not_cascade(void) {
  build(HEAD "a = nosuch(s)\nb = a + 1\nc = dense(b, 3)\np = sigmoid(sum(c))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_EQUAL(diag_error_count(), 1);
}

// ---- IR ----

static void test_ir_shape_rules(void) {
  Graph *g = ir_graph_new();
  Loc nowhere = {0};
  const char *err = NULL;
  IrNode *a = ir_leaf(g, OP_INPUT, DT_F32, (Shape){2, {5, 10}}, true, "a", NULL, nowhere);
  IrNode *b = ir_leaf(g, OP_PARAM, DT_F32, (Shape){1, {8}}, false, "b", NULL, nowhere);
  IrNode *w = ir_leaf(g, OP_PARAM, DT_F32, (Shape){2, {10, 3}}, false, "w", NULL, nowhere);
  IrNode *in[2] = {a, b};
  CU_ASSERT_PTR_NULL(ir_add(g, OP_MUL, in, 2, NULL, nowhere, &err));
  CU_ASSERT_STRING_EQUAL(err, "shape mismatch: [5,10] * [8]");
  in[1] = w;
  IrNode *m = ir_add(g, OP_MATMUL, in, 2, NULL, nowhere, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT_EQUAL(m->shape.dim[1], 3);
  CU_ASSERT_TRUE(m->batched);
  IrNode attrs = {0};
  attrs.axis = 0;
  IrNode *s = ir_add(g, OP_SUM, &m, 1, &attrs, nowhere, &err);
  CU_ASSERT_EQUAL(s->shape.rank, 1);
  attrs.axis = 2;
  CU_ASSERT_PTR_NULL(ir_add(g, OP_SUM, &m, 1, &attrs, nowhere, &err));
  ir_verify(g);   // dies on a broken invariant
}

static void test_ir_dce_keeps_reachable(void) {
  Graph *g = build(HEAD "unused = dense(s, 7)\np = sigmoid(sum(s))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  int before = g->nodes.len;
  ir_dce(g);
  ir_verify(g);
  CU_ASSERT_TRUE(g->nodes.len < before);
  CU_ASSERT_PTR_NULL(find_op(g, OP_MATMUL, 0));   // the unused layer's work is gone
  CU_ASSERT_EQUAL(g->params.len, 2);              // its parameters still exist
}

// ---- memory planning ----

// A parameter's gradient that a kernel computes alone goes straight into the
// gradient block (plan.c); two parameters' identical gradients (a bias each, which
// CSE merges) stay in the workspace and are copied.
static void test_plan_gradients_in_place(void) {
  Graph *g = build(HEAD "a = dense(s, 8)\np = sigmoid(sum(dense(a, 1)) + sum(dense(s, 1)))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  ir_dce(g);
  ir_build_training(g, true);
  Lowered *l = lower_graph(g, true);
  int in_place = 0, copied = 0;
  for (int i = 0; i < g->params.len; i++) {
    IrNode *gn = g->grads.items[i];
    Param *p = g->params.items[i];
    if (!gn) continue;
    if (l->buf[gn->id].kind == BUF_GRAD) {
      in_place++;
      CU_ASSERT_EQUAL(l->buf[gn->id].index, l->param_offset[i]);
    } else {
      copied++;
      CU_ASSERT_TRUE(strstr(p->name, "/b") != NULL);   // only the shared bias gradients
    }
  }
  CU_ASSERT_TRUE(in_place >= 4);   // the three weights and the hidden layer's bias
  CU_ASSERT_EQUAL(copied, 2);
}

// ---- FLOPs (--report) ----

// The GEMMs of a training step, per example: [3]@[3,8] and [8]@[8,1] forward (48 +
// 16); backward, both weights' gradients (48 + 16, each an example's share of the
// sum over the batch) and the hidden layer's input gradient (16), but none for the
// input features, which take no gradient.
static void test_report_training_flops(void) {
  Graph *g = build(HEAD "a = dense(s, 8)\np = sigmoid(sum(dense(a, 1)))\noutput p\nloss bce(p, y)\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  ir_dce(g);
  ir_build_training(g, false);
  double fwd = 0, bwd = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (op_info[n->op].kind == OK_MATMUL) *(n->is_grad ? &bwd : &fwd) += ir_node_flops(n);
  }
  CU_ASSERT_DOUBLE_EQUAL(fwd, 64, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(bwd, 80, 1e-9);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  CU_pSuite s = CU_add_suite("front end", NULL, NULL);
  CU_add_test(s, "parse statements", test_parse_statements);
  CU_add_test(s, "parse locations", test_parse_locations);
  CU_add_test(s, "call vs option", test_parse_call_vs_option);
  CU_add_test(s, "column range, keyword column", test_parse_column_range_and_keyword_column);
  CU_add_test(s, "def and blocks", test_parse_def_and_blocks);
  CU_add_test(s, "syntax errors recover", test_syntax_errors_recover);
  CU_add_test(s, "lexer errors", test_lexer_errors);
  CU_add_test(s, "sema embedding and mask", test_sema_embedding_and_mask);
  CU_add_test(s, "sema def inlining and params", test_sema_def_inlining_and_params);
  CU_add_test(s, "sema for unrolls", test_sema_for_unrolls);
  CU_add_test(s, "sema errors", test_sema_errors);
  CU_add_test(s, "sema poison", test_sema_poison_does_not_cascade);
  CU_add_test(s, "ir shape rules", test_ir_shape_rules);
  CU_add_test(s, "ir dce", test_ir_dce_keeps_reachable);
  CU_add_test(s, "plan: gradients in place", test_plan_gradients_in_place);
  CU_add_test(s, "report: a training step's FLOPs", test_report_training_flops);
  CU_basic_set_mode(CU_BRM_NORMAL);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  arena_free_all();
  return failures ? 1 : 0;
}
