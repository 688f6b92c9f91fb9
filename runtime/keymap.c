/* keymap.c -- key -> index map (see keymap.h). A slot stores value + 1, so 0
 * marks an empty slot and any key (0 and negative ones too) can be stored.
 */
#include "keymap.h"

#include <stdlib.h>

typedef struct KeySlot {
  int64_t key;
  int64_t val1; /* value + 1; 0: empty */
} KeySlot;

struct RtKeyMap {
  KeySlot *slots;
  size_t cap, used; /* cap a power of two, used <= cap / 2 */
};

static size_t slot_of(int64_t key, size_t cap) { /* splitmix64's finaliser */
  uint64_t x = (uint64_t)key;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return (size_t)(x ^ (x >> 31)) & (cap - 1);
}

static KeySlot *find(KeySlot *slots, size_t cap, int64_t key) {
  size_t i = slot_of(key, cap);
  while (slots[i].val1 && slots[i].key != key) i = (i + 1) & (cap - 1);
  return &slots[i];
}

RtKeyMap *rt_keymap_new(void) {
  RtKeyMap *k = calloc(1, sizeof *k);
  if (k && !(k->slots = calloc(k->cap = 1024, sizeof *k->slots))) {
    free(k);
    return NULL;
  }
  return k;
}

void rt_keymap_free(RtKeyMap *k) {
  if (!k) return;
  free(k->slots);
  free(k);
}

int64_t rt_keymap_get(const RtKeyMap *k, int64_t key) {
  const KeySlot *s = find(k->slots, k->cap, key);
  return s->val1 - 1;
}

int rt_keymap_put(RtKeyMap *k, int64_t key, int64_t value) {
  if (2 * (k->used + 1) > k->cap) {
    size_t cap = 2 * k->cap;
    KeySlot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < k->cap; i++)
      if (k->slots[i].val1) *find(slots, cap, k->slots[i].key) = k->slots[i];
    free(k->slots);
    k->slots = slots;
    k->cap = cap;
  }
  KeySlot *s = find(k->slots, k->cap, key);
  k->used += !s->val1;
  *s = (KeySlot){key, value + 1};
  return 0;
}
