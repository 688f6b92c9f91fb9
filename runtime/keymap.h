/* keymap.h -- a map from 64-bit keys to example indices.
 *
 * Used where rows are gathered by a key (group_by models: the rows of one
 * item form one example) and where a held-out row looks up its key's
 * example. One open-addressing table (linear probing, power-of-two
 * capacity, doubled when half full); no allocation per key. Not safe to
 * write from several threads; lookups are.
 */
#ifndef RT_KEYMAP_H
#define RT_KEYMAP_H

#include <stdint.h>

typedef struct RtKeyMap RtKeyMap;

/* An empty map, or NULL if out of memory. */
RtKeyMap *rt_keymap_new(void);
void rt_keymap_free(RtKeyMap *k);
/* The value stored for key, or -1. */
int64_t rt_keymap_get(const RtKeyMap *k, int64_t key);
/* Stores key -> value (value >= 0; an existing key takes the new value): 0, or -1 if out of memory. */
int rt_keymap_put(RtKeyMap *k, int64_t key, int64_t value);

#endif
