/* heldout.h -- the held-out protocol of group_by models (I-AutoRec, Sedhain
 * et al. 2015): a model that reconstructs a group's vector of values (an
 * item's ratings, one per user) is scored on values its input did not hold.
 *
 * The input groups are examples gathered from other rows than the ones
 * scored: the model's training rows (their groups travel in the checkpoint,
 * groups.h) or the files of --input. A held-out row is a row of the file
 * given to eval, predict or train --valid, read through the encoder like
 * any row: its group_by key, and the (id, value) pair of the held-out
 * feature (DmcModel.heldout_feature). It is predicted as element `id` (the
 * id's vocabulary index) of output heldout_output, computed from the input
 * group of its key. A row whose key has no input group, or whose id is
 * empty or out of the vocabulary (a user or an item unseen in the input),
 * has no such element and is predicted as the mean of the input values:
 * such rows are counted (`defaulted`). Every prediction is clipped to the
 * range [min, max] of the input values.
 *
 * Scoring runs the forward pass only on the input groups some row needs, in
 * chunks of at most RT_HELDOUT_CHUNK output floats (one buffer, allocated on
 * first use). Metrics: RMSE and MAE over the rows, when the file has the
 * value column (predict does not need it).
 */
#ifndef RT_HELDOUT_H
#define RT_HELDOUT_H

#include <stdio.h>

#include "dataset.h"
#include "score.h"

#define RT_HELDOUT_CHUNK (1 << 24)

typedef struct RtHeldout {
  const DmcModel *m;
  int64_t n, cap;         /* held-out rows */
  int64_t *key;           /* [n] group_by key (while loading) */
  int64_t *group;         /* [n] the input group of the key, -1 if none */
  int32_t *id;            /* [n] vocabulary index of the id: the output element */
  float *value;           /* [n] the held-out value (0 when the file has no value column) */
  int has_value;          /* the file had the value column */
  RtData *tally;          /* the files' bad rows (no rows kept), for rt_data_report_bad */
  double fallback, lo, hi;/* the input values' mean, min and max */
  int64_t defaulted;      /* rows without an output element */
  int64_t *order;         /* [n] the rows with an element, by group (then file order) */
  int64_t nordered;
  int64_t *needed;        /* [nneeded] the input groups they need, increasing */
  int64_t nneeded;
  float *chunk;           /* scores of a chunk of needed groups */
} RtHeldout;

/* Reads the held-out rows of paths through e (frozen) and matches them with
 * inputs (groups from the same encoder). NULL and *err on error (a bad row
 * without skip_bad, no (id, value) pair in the inputs, out of memory). */
RtHeldout *rt_heldout_load(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                           const RtData *inputs, RtError *err);
void rt_heldout_free(RtHeldout *h);

/* Prints how many rows get the default, if any: "what: N of M held-out rows ...". */
void rt_heldout_report(const RtHeldout *h, const char *what, FILE *out);

/* The prediction of every row into pred[h->n], scoring inputs with s and
 * parameters w; *r gets the metrics (RtEvalResult.has_heldout). */
int rt_heldout_eval(RtHeldout *h, RtScorer *s, const RtData *inputs, const float *w,
                    uint64_t seed, float *pred, RtEvalResult *r, RtError *err);

#endif
