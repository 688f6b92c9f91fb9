// arena.c: one bump allocator for the whole compilation. Nothing the compiler
// builds is freed piecemeal; arena_free_all() releases everything at exit, which
// keeps valgrind clean without ownership bookkeeping in every pass.
#include "dmc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block Block;
struct Block {
  Block *prev;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

static Block *top;

void *arena_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (!top || top->used + n > top->cap) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    Block *b = malloc(sizeof(Block) + cap);
    if (!b) {
      fprintf(stderr, "dmc: out of memory\n");
      exit(2);
    }
    b->prev = top;
    b->used = 0;
    b->cap = cap;
    top = b;
  }
  void *p = top->data + top->used;
  top->used += n;
  memset(p, 0, n);
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

void arena_free_all(void) {
  while (top) {
    Block *b = top;
    top = b->prev;
    free(b);
  }
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
