// fuzz_arena.c: compiler/arena.c's interface for fuzz_front, one malloc per object.
//
// compiler/arena.c bump-allocates from 1 MB blocks: an overflow from one arena
// object into the next stays inside a block, where AddressSanitizer cannot see it.
// Here every arena_alloc is its own calloc, so each object has ASan's redzones and a
// freed one is poisoned. Sizes are not rounded up to 16 as arena.c does: a read past
// the size asked for is reported (arena.c would hand back its padding).
//
// arena_free_all frees what was allocated since fuzz_arena_keep(): fuzz_front parses
// the standard library once, keeps it, and frees each input's objects after it. (The
// AST is not written after parsing, so sharing the stdlib's between inputs is safe.)
//
// vec_push is copied from compiler/arena.c: keep the two the same.
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dmc.h"

void fuzz_arena_keep(void);

static void **objs;
static size_t nobjs, capobjs, kept;

void *arena_alloc(size_t n) {
  if (nobjs == capobjs) {
    capobjs = capobjs ? 2 * capobjs : 4096;
    objs = realloc(objs, capobjs * sizeof *objs);
    if (!objs) {
      fprintf(stderr, "dmc: out of memory\n");
      exit(2);
    }
  }
  void *p = calloc(1, n ? n : 1);
  if (!p) {
    fprintf(stderr, "dmc: out of memory\n");
    exit(2);
  }
  objs[nobjs++] = p;
  return p;
}

char *arena_strndup(const char *s, size_t n) {
  char *p = arena_alloc(n + 1);
  memcpy(p, s, n);
  return p;
}

char *arena_strdup(const char *s) { return arena_strndup(s, strlen(s)); }

char *arena_printf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc((size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}

void fuzz_arena_keep(void) { kept = nobjs; }

void arena_free_all(void) {
  while (nobjs > kept) free(objs[--nobjs]);
}

void vec_push(Vec *v, void *item) {
  if (v->len == v->cap) {
    int cap = v->cap ? 2 * v->cap : 8;
    void **items = arena_alloc(sizeof(void *) * (size_t)cap);
    if (v->len) memcpy(items, v->items, sizeof(void *) * (size_t)v->len);
    v->items = items;
    v->cap = cap;
  }
  v->items[v->len++] = item;
}
