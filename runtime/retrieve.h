/* retrieve.h -- brute-force top-k retrieval by dot product, and recall@k.
 *
 * A retrieval model (sampled_softmax; DmcModel.retrieve_*) maps a row to a
 * user vector u [d]; its items are the rows of a table T [rows, d], row i
 * being vocabulary index i of the target feature. Retrieval scores u
 * against every candidate row (2..L-1: not padding 0, not out-of-vocabulary
 * 1, and only the L indices of the vocabulary in use) and keeps the k best.
 *
 * rt_retrieve_topk does this for n users at once as a blocked matrix
 * product: the candidates are packed once into tiles of RT_RETRIEVE_TILE
 * rows stored dimension-major ([d][tile]), a block of users is scored
 * against one tile at a time (both stay in cache) by a register-blocked
 * kernel (AVX-512 or AVX2+FMA builds of it are chosen at run time when
 * the CPU has them; DMC_RETRIEVE_KERNEL=avx2 or =c forces a slower one),
 * and each user keeps a min-heap of its k best (RtTopK): the kernel compares
 * its scores in registers with each heap's worst, so almost all are
 * rejected there. The largest rows are scored first (they fill the heaps
 * with high scores early). Threads take blocks of users. The result does
 * not depend on the number of threads or the kernel (up to the rounding of
 * the dot products, which FMA changes).
 *
 * Order: higher score first; equal scores by increasing row, so the result
 * is deterministic. A NaN score never enters a heap. With fewer than k
 * candidates the missing entries are row -1, score -inf.
 *
 * Recall@k (rt_recall): the fraction of rows whose true item (the target's
 * index in the row) is among their first k retrieved rows. Rows whose
 * target is padding (an empty field) are not counted; a target out of
 * vocabulary (index 1) cannot be retrieved and counts as a miss.
 */
#ifndef RT_RETRIEVE_H
#define RT_RETRIEVE_H

#include <stdint.h>

#include "dataset.h"
#include "rterr.h"

#define RT_RETRIEVE_K 50          /* the default k of retrieve, eval and train */
#define RT_RETRIEVE_TILE 128      /* candidate rows per packed tile */

/* The k best (score, row) pairs seen so far: a min-heap, the worst at 0. */
typedef struct RtTopK {
  int k, n;                /* capacity, entries held */
  float *score;            /* [k] */
  int32_t *row;            /* [k] */
} RtTopK;

/* Offers one candidate: kept if the heap is not full or it beats the worst. */
void rt_topk_push(RtTopK *h, float score, int32_t row);
/* Sorts the held entries best first, in place (the heap is then spent):
 * returns their number. */
int rt_topk_sort(RtTopK *h);

/* The k best of rows lo..hi-1 of table [*, dim] for each of users [n, dim]:
 * rows[n * k] and, when scores is not NULL, scores[n * k], best first.
 * 0, or -1 and *err when out of memory. */
int rt_retrieve_topk(const float *users, int64_t n, int64_t dim, const float *table, int64_t lo,
                     int64_t hi, int k, int nthreads, int32_t *rows, float *scores, RtError *err);

/* A retrieval model's candidates: its table in the parameter block, and the
 * target's vocabulary (indices to raw ids). */
typedef struct RtRetrieval {
  int output;              /* DmcModel.outputs index of the user vector */
  int target;              /* DmcModel.features index of the true item */
  const float *table;      /* [rows, dim] */
  int64_t dim, lo, hi;     /* candidates: rows lo..hi-1 (lo = 2, hi = the vocabulary's length) */
  const RtVocab *vocab;
} RtRetrieval;

/* The candidates of a retrieval model with parameters w and a frozen encoder. */
void rt_retrieval_of(const DmcModel *m, const RtEncoder *e, const float *w, RtRetrieval *r);

typedef struct RtRecall {
  int k;
  int64_t rows;            /* rows counted: their target is not padding */
  int64_t oov;             /* of them, targets out of vocabulary (always misses) */
  int64_t hits, hits10;    /* true item within the first k, the first 10 */
  double recall, recall10; /* hits / rows (NaN without rows); recall10 needs k >= 10 */
} RtRecall;

/* Recall@k and recall@10 of top[n * stride] (per row its retrieved rows,
 * best first, as rt_retrieve_topk leaves them; k <= stride) against
 * target[n] (the vocabulary indices of the true items). recall10 is NaN
 * when stride < 10. */
void rt_recall(const int32_t *top, int64_t n, int stride, int k, const int32_t *target,
               RtRecall *r);

/* Scores users [d->n, dim] (the model's user vectors of the rows of d)
 * against the model's items (the top max(k, 10)) and measures recall@k and
 * recall@10 of the target. 0, or -1 and *err. */
int rt_retrieval_recall(const RtRetrieval *rv, const RtData *d, const float *users, int k,
                        int nthreads, RtRecall *r, RtError *err);

#endif
