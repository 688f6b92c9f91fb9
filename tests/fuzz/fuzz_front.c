// fuzz_front.c: libFuzzer harness of the compiler's front and middle end.
//
// Any bytes are a .model file and go through what `dmc FILE --emit=c` runs
// (compiler/main.c: compile()): parse, sema against the standard library,
// verify, dce, verify, the printers (ir, dot, report), and, when sema
// succeeded and the model is one code generation supports, autodiff, dce,
// verify, lowering and C emission, all to /dev/null.
//
// The input is given to the lexer exactly as src_load() gives a file
// (embedded NUL bytes included: a file may hold them), not through
// src_from_string(), which would stop at the first NUL.
//
// The standard library (DMC_STDLIB, else the stdlib/ this harness was built
// from) is parsed once, in name order as dmc's load_stdlib does. The harness
// links tests/fuzz/fuzz_arena.c instead of compiler/arena.c: one malloc per
// arena object, so ASan sees overflows between them, and fuzz_arena_keep()
// keeps the stdlib's AST while arena_free_all() frees each input's objects;
// diag_reset() forgets the counted errors.
//
// Then the graph (forward and backward) runs once in the reference interpreter
// (interp.c) on a batch of 3 random examples, when it is small enough (the
// budget below): the interpreter calls the kernels of runtime/kernels_impl.h in
// double precision, the same code the compiled programs run in float, so a
// kernel reading or writing outside its buffers for some shape sema accepted is
// caught here too.
//
// What counts as a bug: any sanitizer report, and die() (an internal error:
// abort()), which the compiler reserves for its own bugs. User errors are
// diagnostics and are expected. Diagnostics go to stderr: run with
// -close_fd_mask=2 (fuzz.mk does) to keep the fuzzer fast.
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"

#ifndef FUZZ_STDLIB
#define FUZZ_STDLIB "stdlib"
#endif

void fuzz_arena_keep(void);   // fuzz_arena.c

static Node *stdlib;
static FILE *devnull;

static int is_model(const struct dirent *e) {
  size_t n = strlen(e->d_name);
  return n > 6 && !strcmp(e->d_name + n - 6, ".model");
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0, n;
  char *buf = malloc(cap + 1);
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0)
    if ((len += n) == cap) buf = realloc(buf, (cap *= 2) + 1);
  fclose(f);
  if (buf) buf[len] = 0;
  return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *dir = getenv("DMC_STDLIB");
  if (!dir || !*dir) dir = FUZZ_STDLIB;
  struct dirent **list;
  int n = scandir(dir, &list, is_model, alphasort);   // name order, as dmc's load_stdlib
  if (n <= 0) {
    fprintf(stderr, "fuzz_front: no stdlib/*.model in '%s' (set DMC_STDLIB)\n", dir);
    exit(1);
  }
  for (int i = 0; i < n; i++) {
    char *path = arena_printf("%s/%s", dir, list[i]->d_name), *text = slurp(path);
    if (!text) {
      fprintf(stderr, "fuzz_front: cannot read '%s'\n", path);
      exit(1);
    }
    stdlib = ast_append(stdlib, parse_file(src_from_string(path, text)));
    free(text);
    free(list[i]);
  }
  free(list);
  if (diag_error_count()) {
    fprintf(stderr, "fuzz_front: the standard library in '%s' has errors\n", dir);
    exit(1);
  }
  fuzz_arena_keep();
  devnull = fopen("/dev/null", "w");
  diag_set_max_errors(20);
  return 0;
}

// As src_load() reads a file: every byte, length kept.
static SrcFile *src_from_bytes(const uint8_t *data, size_t size) {
  SrcFile *f = arena_alloc(sizeof *f);
  f->name = "fuzz.model";
  f->text = arena_strndup((const char *)data, size);
  f->len = size;
  return f;
}

// ---- the interpreter run ----

enum { BATCH = 3 };
#define MAX_ELEMS (1 << 21)   // values in all the buffers of one run
#define MAX_FLOPS 4e6         // per run (a few ms; larger graphs are not run)

static uint64_t rng_state;
static double urand(void) {   // splitmix64
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static bool small_enough(Graph *g) {
  int64_t total = 0;
  double flops = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    int64_t e = 1;
    for (int d = 0; d < n->shape.rank; d++) {
      if (n->shape.dim[d] <= 0) return false;
      e *= n->shape.dim[d];
      if (e > MAX_ELEMS) return false;
    }
    total += e * (n->batched ? BATCH : 1);
    flops += ir_node_flops(n) * BATCH;
    if (total > MAX_ELEMS || flops > MAX_FLOPS) return false;
  }
  return true;
}

// Inputs as the runtime gives them: ids in [0, vocab) (0: padding, some in lists),
// labels 0/1, values in [-1, 1]; parameters in [-0.1, 0.1].
static void interpret(Graph *g, const uint8_t *data, size_t size) {
  if (!small_enough(g)) return;
  rng_state = size;
  for (size_t i = 0; i < size; i++) rng_state = rng_state * 31 + data[i];
  Interp *it = interp_new(g, BATCH);
  for (int i = 0; i < g->nodes.len; i++) {
    IrNode *n = g->nodes.items[i];
    if (n->op != OP_INPUT && n->op != OP_PARAM) continue;
    int64_t count = (int64_t)shape_numel(n->shape) * (n->batched ? BATCH : 1);
    if (n->dt == DT_I32) {
      const Feature *f = n->ref;
      int64_t v = f && f->vocab > 1 ? f->vocab : 2;
      int32_t *ids = interp_buffer(it, n);
      for (int64_t k = 0; k < count; k++)
        ids[k] = f && f->is_list && urand() < 0.25 ? 0 : 1 + (int32_t)(urand() * (double)(v - 1));
    } else {
      double *x = interp_buffer(it, n);
      bool label = n->op == OP_INPUT && n->ref && ((const Feature *)n->ref)->kind == FK_LABEL;
      for (int64_t k = 0; k < count; k++)
        x[k] = label ? (urand() < 0.5) : n->op == OP_PARAM ? 0.2 * urand() - 0.1 : 2 * urand() - 1;
    }
  }
  interp_run(it, true);
  interp_free(it);
}

static void compile(const uint8_t *data, size_t size) {
  Node *prog = parse_file(src_from_bytes(data, size));
  if (diag_error_count()) return;
  Graph *g = sema_build(prog, stdlib);
  if (diag_error_count()) return;
  ir_verify(g);
  ir_dce(g);
  ir_verify(g);
  ir_print(g, devnull);
  ir_print_dot(g, devnull);
  ir_report(g, devnull);
  if (!g->losses.len || !cgen_check_supported(g)) return;
  ir_build_training(g, true);
  Lowered *l = lower_graph(g, true);
  cgen_emit(l, "fuzz.model", devnull);
  interpret(g, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  compile(data, size);
  diag_flush();
  diag_reset();
  arena_free_all();
  return 0;
}
