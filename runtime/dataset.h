/* dataset.h -- an encoded data set in memory, and batches cut from it.
 *
 * rt_data_count is the training pass 1 (vocabularies and statistics, then
 * the encoder is frozen); rt_data_load reads files again and keeps every
 * row encoded: per feature one array of int32 ids or floats, [rows, width].
 * The whole data set is held in memory (4 bytes per value per row); data
 * larger than memory is streamed instead (feed.h), with rt_data_count_rows
 * as its pass 1 and a small RtData of rt_data_new_rows as its shuffle
 * buffer.
 *
 * Bad rows (a non-number, an empty float without default, a list too long)
 * stop the load with `file:line: column NAME: ...`, or with skip_bad are
 * counted per reason and left out. next(F) features are paired after the
 * load: rows are ordered by (next_by, next_order, file order) and each row
 * takes F from the next row of the same key; a key's last row gets padding
 * ids, zero weights and the float default (encoded; 0 without a default).
 *
 * group_by models gather rows into examples: the rows sharing a key (the
 * group_by column) form one example, examples in the order their keys
 * first appear in the files (a key met again in a later file joins its
 * example), pairs in file order. The first row of a group gives every
 * feature; each row puts its (id, value) pair of every pair-source feature
 * (IDCOL:VALCOL) into the next slot. A row beyond a group's room (the
 * smallest N of its pair sources) is a bad row, "list too long": the load
 * stops with `file:line: group ... has more than N rows`, or with skip_bad
 * the row is left out and counted. Grouping needs every row: such data is
 * never streamed.
 *
 * A batch holds one buffer per model input, [max, size], allocated once;
 * rt_batch_fill copies rows into it and samples negative features (ids in
 * 2..L-1 where L is the source vocabulary's indices in use, or 1..buckets-1
 * for a hash source; 0 where the source is padding). No allocation.
 */
#ifndef RT_DATASET_H
#define RT_DATASET_H

#include <stdint.h>

#include "encoder.h"
#include "rng.h"

typedef struct RtData {
  const DmcModel *m;
  int64_t n, cap;
  int32_t **ids;     /* [nf] [n * width] or NULL */
  float **vals;      /* [nf] [n * width] or NULL */
  int64_t *group;    /* [n] GAUC group per row, or NULL */
  int64_t *key;      /* [n] group_by models: the key of each example, else NULL */
  int32_t *gathered; /* [n] group_by models: rows gathered into each example, else NULL */
  int has_label;     /* the files held the label column */
  int label_binary;  /* every label is 0 or 1 */
  uint64_t bad[RT_BAD_COUNT];
  char first_bad[RT_BAD_COUNT][RT_ERR_MAX];  /* the first message of each reason */
  int64_t *by;       /* [n] next_by keys while loading, then freed */
  double *order;
} RtData;

typedef struct RtLoadOpts {
  int skip_bad;
  int flags;          /* RT_BIND_* */
  const char *group;  /* --group column, or NULL for the default */
} RtLoadOpts;

/* Training pass 1 over paths, then rt_enc_freeze. 0, or -1 and *err. */
int rt_data_count(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                  RtError *err);
/* rt_data_count, and a tally of what rt_data_load would keep: an RtData
 * holding no rows (ids and vals all NULL) whose n, bad, first_bad,
 * has_label and label_binary are those of a load. NULL and *err on error. */
RtData *rt_data_count_rows(RtEncoder *e, const char *const *paths, int npaths,
                           const RtLoadOpts *o, RtError *err);
/* Bytes one encoded row takes in an RtData (the memory estimate of a load). */
int64_t rt_data_row_bytes(const RtEncoder *e);
/* Whether the encoder reads next(F) features (next_by pairing: in memory only). */
int rt_data_needs_next(const RtEncoder *e);
/* Sets row's next(F) features to what a key's last row gets (padding, the
 * encoded float default): an event whose successor has not arrived (online.c). */
void rt_data_clear_next(RtData *d, const RtEncoder *e, int64_t row);
/* Room for exactly `rows` encoded rows (n = rows, contents undefined), and
 * rt_data_put, which stores the encoder's current row at one of them. */
RtData *rt_data_new_rows(const RtEncoder *e, int64_t rows);
void rt_data_put(RtData *d, const RtEncoder *e, int64_t row);
/* The load loop, for other readers of rows (heldout.c): opens paths and
 * binds them, then for every row parses and encodes it and calls
 * take(ctx, e, csv, err), which returns 0, an RtBad reason (a bad row:
 * with skip_bad counted in tally->bad, else the error) or -1 (stop with
 * *err). tally->has_label is set from the header. 0, or -1 and *err. */
typedef int (*RtTakeRow)(void *ctx, const RtEncoder *e, const RtCsv *csv, RtError *err);
int rt_data_scan(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                 RtData *tally, RtTakeRow take, void *ctx, RtError *err);
/* Reads and encodes every row of paths (gathered into groups for group_by
 * models); NULL and *err on error. */
RtData *rt_data_load(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                     RtError *err);
void rt_data_free(RtData *d);
/* Total rows skipped; prints "what: skipped N bad rows: ..." when N > 0. */
uint64_t rt_data_report_bad(const RtData *d, const char *what, FILE *out);

typedef struct RtBatch {
  const DmcModel *m;
  int max, n;
  void **buf;            /* [ninputs] [max * size] of int32 or float */
} RtBatch;

RtBatch *rt_batch_new(const DmcModel *m, int max);
void rt_batch_free(RtBatch *b);
/* Copies rows[0..n) of d into b (n <= b->max) and samples negatives from rng. */
void rt_batch_fill(RtBatch *b, const RtEncoder *e, const RtData *d, const int64_t *rows, int n,
                   RtRng *rng);

/* A random permutation of 0..n-1 into perm (Fisher-Yates). */
void rt_shuffle(int64_t *perm, int64_t n, RtRng *rng);

#endif
