/* vocab.c -- id vocabularies (see vocab.h).
 *
 * One open-addressing table (linear probing, power-of-two capacity) of
 * (id, val) slots; val is the count while counting and the index once
 * frozen, and val == 0 marks an empty slot in both phases (counts start at
 * 1, kept indices at 2). A frozen vocabulary also keeps its ids in index
 * order (the reverse lookup, and the saved form). Saved form, little-endian: "DMCV", u32 version 1,
 * u32 size, u32 min_count, u32 kept, then kept i64 ids in index order.
 */
#include "vocab.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB_VERSION 1
#define VOCAB_HEAD 20

typedef struct Slot {
  int64_t id;
  uint64_t val; /* count, or index once frozen; 0 = empty slot */
} Slot;

struct RtVocab {
  uint32_t size, min_count;
  uint32_t kept;        /* ids with an index, once frozen */
  int frozen;
  Slot *slots;
  int64_t *byindex;     /* [kept] the id of index i + 2, once frozen */
  size_t cap, used;     /* cap is a power of two; used <= cap / 2 */
  _Atomic uint64_t oov;
};

static size_t mix(int64_t id) { /* splitmix64's finaliser */
  uint64_t x = (uint64_t)id;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return (size_t)(x ^ (x >> 31));
}

/* The slot holding id, or the empty slot where it would go. */
static Slot *find(Slot *slots, size_t cap, int64_t id) {
  size_t i = mix(id) & (cap - 1);
  while (slots[i].val && slots[i].id != id) i = (i + 1) & (cap - 1);
  return &slots[i];
}

RtIdStatus rt_vocab_parse_id(const char *s, size_t n, int64_t *out) {
  if (n == 0) return RT_ID_EMPTY;
  size_t i = 0;
  int neg = s[0] == '-';
  if (s[0] == '-' || s[0] == '+') i = 1;
  if (i == n) return RT_ID_BAD;
  uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, u = 0;
  for (; i < n; i++) {
    unsigned d = (unsigned)((unsigned char)s[i] - '0');
    if (d > 9 || u > (lim - d) / 10) return RT_ID_BAD;
    u = u * 10 + d;
  }
  if (!neg) *out = (int64_t)u;
  else *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
  return RT_ID_OK;
}

static RtVocab *alloc(uint32_t size, uint32_t min_count, size_t cap) {
  RtVocab *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  v->size = size;
  v->min_count = min_count ? min_count : 1;
  v->cap = cap;
  if (!(v->slots = calloc(cap, sizeof *v->slots))) {
    free(v);
    return NULL;
  }
  atomic_init(&v->oov, 0);
  return v;
}

RtVocab *rt_vocab_new(uint32_t size, uint32_t min_count) {
  if (size < 2) return NULL;
  return alloc(size, min_count, 1024);
}

static int grow(RtVocab *v) {
  size_t cap = 2 * v->cap;
  Slot *s = calloc(cap, sizeof *s);
  if (!s) return -1;
  for (size_t i = 0; i < v->cap; i++)
    if (v->slots[i].val) *find(s, cap, v->slots[i].id) = v->slots[i];
  free(v->slots);
  v->slots = s;
  v->cap = cap;
  return 0;
}

int rt_vocab_count(RtVocab *v, int64_t id) {
  assert(!v->frozen);
  Slot *s = find(v->slots, v->cap, id);
  if (s->val) {
    s->val++;
    return 0;
  }
  if (v->used + 1 > v->cap / 2) {
    if (grow(v)) return -1;
    s = find(v->slots, v->cap, id);
  }
  s->id = id;
  s->val = 1;
  v->used++;
  return 0;
}

static int by_count_then_id(const void *a, const void *b) {
  const Slot *x = a, *y = b;
  if (x->val != y->val) return x->val > y->val ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Capacity for n entries at most half full. */
static size_t cap_for(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  return cap;
}

int rt_vocab_freeze(RtVocab *v) {
  assert(!v->frozen);
  size_t n = 0;
  Slot *all = malloc((v->used ? v->used : 1) * sizeof *all);
  if (!all) return -1;
  for (size_t i = 0; i < v->cap; i++)
    if (v->slots[i].val >= v->min_count) all[n++] = v->slots[i];
  qsort(all, n, sizeof *all, by_count_then_id);
  if (n > v->size - 2) n = v->size - 2;
  size_t cap = cap_for(n);
  Slot *s = calloc(cap, sizeof *s);
  int64_t *byindex = malloc((n ? n : 1) * sizeof *byindex);
  if (!s || !byindex) {
    free(s);
    free(byindex);
    free(all);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    Slot *t = find(s, cap, all[i].id);
    t->id = all[i].id;
    t->val = i + 2;
    byindex[i] = all[i].id;
  }
  free(all);
  v->byindex = byindex;
  free(v->slots);
  v->slots = s;
  v->cap = cap;
  v->used = v->kept = (uint32_t)n;
  v->frozen = 1;
  return 0;
}

uint32_t rt_vocab_lookup(RtVocab *v, int64_t id) {
  assert(v->frozen);
  Slot *s = find(v->slots, v->cap, id);
  if (s->val) return (uint32_t)s->val;
  atomic_fetch_add_explicit(&v->oov, 1, memory_order_relaxed);
  return RT_VOCAB_OOV;
}

uint64_t rt_vocab_oov(const RtVocab *v) {
  return atomic_load_explicit((_Atomic uint64_t *)&v->oov, memory_order_relaxed);
}

uint32_t rt_vocab_len(const RtVocab *v) {
  assert(v->frozen);
  return 2 + v->kept;
}

int rt_vocab_id(const RtVocab *v, uint32_t index, int64_t *id) {
  assert(v->frozen);
  if (index < 2 || index - 2 >= v->kept) return -1;
  *id = v->byindex[index - 2];
  return 0;
}

static void put32(uint8_t *p, uint32_t x) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(x >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  uint32_t x = 0;
  for (int i = 0; i < 4; i++) x |= (uint32_t)p[i] << (8 * i);
  return x;
}

size_t rt_vocab_save(const RtVocab *v, uint8_t *buf, size_t cap) {
  assert(v->frozen);
  size_t need = VOCAB_HEAD + 8 * (size_t)v->kept;
  if (cap < need) return need;
  memcpy(buf, "DMCV", 4);
  put32(buf + 4, VOCAB_VERSION);
  put32(buf + 8, v->size);
  put32(buf + 12, v->min_count);
  put32(buf + 16, v->kept);
  for (size_t i = 0; i < v->kept; i++) {
    uint8_t *p = buf + VOCAB_HEAD + 8 * i;
    uint64_t u = (uint64_t)v->byindex[i];
    put32(p, (uint32_t)u);
    put32(p + 4, (uint32_t)(u >> 32));
  }
  return need;
}

RtVocab *rt_vocab_load(const uint8_t *buf, size_t n, RtError *err) {
  if (n < VOCAB_HEAD || memcmp(buf, "DMCV", 4) != 0) {
    rt_error(err, "vocabulary blob: not a dmc vocabulary (bad magic or too short)");
    return NULL;
  }
  uint32_t version = get32(buf + 4), size = get32(buf + 8);
  uint32_t min_count = get32(buf + 12), kept = get32(buf + 16);
  if (version != VOCAB_VERSION) {
    rt_error(err, "vocabulary blob: version %u, expected %u", version, VOCAB_VERSION);
    return NULL;
  }
  if (size < 2 || kept > size - 2 || n != VOCAB_HEAD + 8 * (size_t)kept) {
    rt_error(err, "vocabulary blob: size %u, %u ids, %zu bytes do not agree",
             size, kept, n);
    return NULL;
  }
  RtVocab *v = alloc(size, min_count, cap_for(kept));
  if (v && !(v->byindex = malloc((kept ? kept : 1) * sizeof *v->byindex))) {
    rt_vocab_free(v);
    v = NULL;
  }
  if (!v) {
    rt_error(err, "vocabulary blob: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < kept; i++) {
    const uint8_t *p = buf + VOCAB_HEAD + 8 * (size_t)i;
    int64_t id = (int64_t)(get32(p) | (uint64_t)get32(p + 4) << 32);
    Slot *s = find(v->slots, v->cap, id);
    if (s->val) {
      rt_error(err, "vocabulary blob: id %lld appears twice", (long long)id);
      rt_vocab_free(v);
      return NULL;
    }
    s->id = id;
    s->val = i + 2;
    v->byindex[i] = id;
  }
  v->used = v->kept = kept;
  v->frozen = 1;
  return v;
}

void rt_vocab_free(RtVocab *v) {
  if (!v) return;
  free(v->slots);
  free(v->byindex);
  free(v);
}
