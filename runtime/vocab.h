/* vocab.h -- id vocabularies, built on the training pass.
 *
 * Life of a vocabulary: rt_vocab_new, rt_vocab_count for every id of the
 * training data, rt_vocab_freeze, then rt_vocab_lookup (training, eval,
 * serving); or rt_vocab_load from a checkpoint blob written by rt_vocab_save.
 *
 * A frozen vocabulary of size N maps ids to indices: 0 is padding (an empty
 * field; the caller maps RT_ID_EMPTY to it), 1 is out-of-vocabulary, and
 * 2..N-1 are the N-2 most frequent ids whose count is >= min_count, most
 * frequent first, equal counts in increasing id order (so the result does
 * not depend on the order of the data). Lookups of unknown ids return 1 and
 * are counted. Ids and counts live in one open-addressing table (no
 * allocation per id; it doubles when half full); a frozen vocabulary also
 * keeps its ids by index (8 bytes each) for the reverse lookup. Frozen
 * lookups are safe from several threads; counting is not.
 */
#ifndef RT_VOCAB_H
#define RT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "rterr.h"

enum { RT_VOCAB_PAD = 0, RT_VOCAB_OOV = 1 };

typedef enum RtIdStatus {
  RT_ID_OK,    /* *out holds the id */
  RT_ID_EMPTY, /* empty field: padding */
  RT_ID_BAD    /* not a decimal 64-bit integer (sign, digits, nothing else) */
} RtIdStatus;

typedef struct RtVocab RtVocab;

/* Strict parse of a field as a signed 64-bit decimal integer. */
RtIdStatus rt_vocab_parse_id(const char *s, size_t n, int64_t *out);

/* size N >= 2 entries in all; min_count 0 counts as 1. NULL if out of memory. */
RtVocab *rt_vocab_new(uint32_t size, uint32_t min_count);
/* Counting pass: 0, or -1 if out of memory. */
int rt_vocab_count(RtVocab *v, int64_t id);
/* Ends counting and builds the index: 0, or -1 if out of memory. */
int rt_vocab_freeze(RtVocab *v);
/* Index of id in 1..N-1 (1 = out of vocabulary, counted). Frozen only. */
uint32_t rt_vocab_lookup(RtVocab *v, int64_t id);
/* Number of lookups that returned RT_VOCAB_OOV so far. */
uint64_t rt_vocab_oov(const RtVocab *v);
/* Indices in use: 2 + the number of ids kept (<= N). Frozen only. */
uint32_t rt_vocab_len(const RtVocab *v);
/* The reverse lookup: the id of index 2..len-1 into *id and 0; -1 for
 * padding, out-of-vocabulary and unused indices. Frozen only; O(1), safe
 * from several threads. */
int rt_vocab_id(const RtVocab *v, uint32_t index, int64_t *id);
/* Writes the frozen vocabulary to buf if cap is large enough and returns
 * the number of bytes it needs. */
size_t rt_vocab_save(const RtVocab *v, uint8_t *buf, size_t cap);
/* A frozen vocabulary from rt_vocab_save's bytes, or NULL and *err. */
RtVocab *rt_vocab_load(const uint8_t *buf, size_t n, RtError *err);
void rt_vocab_free(RtVocab *v);

#endif
