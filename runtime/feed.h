/* feed.h -- the training batches, one epoch at a time: the trainer's one
 * "next batch" interface over two sources.
 *
 *   in memory   an RtData (dataset.h): each epoch visits its rows in a
 *               fresh permutation (rt_shuffle) drawn at rt_feed_start;
 *   streaming   the training files, read again every epoch through the
 *               CSV reader and encoded on the fly (the encoder frozen by
 *               pass 1), through a shuffle buffer of `shuffle` rows: it
 *               is filled, then each batch takes random rows out of it
 *               and the next batch first puts new rows in their places.
 *               Every row comes out once per epoch; a row's place in the
 *               epoch is at most `shuffle` + batch rows before its place
 *               in the files, so data sorted on disk (by time, by user)
 *               stays partly sorted: give a buffer larger than such runs,
 *               or shuffle the file once. next(F) pairing and group_by
 *               need every row at once and are refused (rt_feed_new).
 *
 * Batches come from a ring of prefetch + 1 RtBatch buffers allocated by
 * rt_feed_new; nothing is allocated per batch. With prefetch > 0 a
 * background thread (pthreads, started by rt_feed_start, joined by
 * rt_feed_stop) fills the ring ahead while the caller trains on the batch
 * it holds; with prefetch 0 rt_feed_next fills the batch on the caller's
 * thread. Either way one function fills the batches in the same order and
 * draws from rng in the same order (the permutation, then per batch the
 * shuffle buffer's choices and the negatives), so the batches are bit for
 * bit the same with and without the thread.
 *
 * While an epoch runs (start .. stop) the feed owns rng and, when
 * streaming, the encoder (its scratch row and OOV counters): the caller
 * must not use either, nor rebind the encoder; between epochs both are the
 * caller's again (score the validation set, save a checkpoint).
 */
#ifndef RT_FEED_H
#define RT_FEED_H

#include <stdint.h>

#include "dataset.h"

#define RT_FEED_SHUFFLE 65536 /* default shuffle buffer, rows */
#define RT_FEED_PREFETCH 3    /* default batches read ahead */

typedef struct RtFeedOpts {
  int batch;                  /* rows per batch */
  int prefetch;               /* batches filled ahead by a thread; 0: no thread */
  RtRng *rng;                 /* permutations, shuffle choices, negatives */
  const RtData *data;         /* in memory; NULL: stream paths */
  const char *const *paths;   /* streaming: the training files */
  int npaths;
  RtLoadOpts load;            /* streaming: skip_bad, group (flags unused) */
  int64_t shuffle;            /* streaming: shuffle buffer rows (>= 1; 1 keeps file order) */
} RtFeedOpts;

typedef struct RtFeed RtFeed;

/* A feed over o's source for encoder e (frozen). NULL and *err if out of
 * memory, or when streaming a model with next(F) features. */
RtFeed *rt_feed_new(RtEncoder *e, const RtFeedOpts *o, RtError *err);
void rt_feed_free(RtFeed *f);
/* Begins an epoch (draws the permutation, or opens the files). 0, or -1 and *err. */
int rt_feed_start(RtFeed *f, RtError *err);
/* The epoch's next batch into *out: 1; 0 at the end of the epoch; -1 and
 * *err on an error reading the files. *out stays valid (and unchanged)
 * until the next call of rt_feed_next or rt_feed_stop. */
int rt_feed_next(RtFeed *f, const RtBatch **out, RtError *err);
/* Ends the epoch, at its end or early: stops and joins the thread, closes
 * the files. Safe to call twice. */
void rt_feed_stop(RtFeed *f);
/* Rows delivered in the current (or last) epoch. */
int64_t rt_feed_rows(const RtFeed *f);
/* Bad rows skipped while streaming the current (or last) epoch (skip_bad). */
uint64_t rt_feed_skipped(const RtFeed *f);

#endif
