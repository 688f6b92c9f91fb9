/* encoder.h -- the feature encoder: CSV fields to the model's input values.
 *
 * One RtEncoder per program run holds everything that turns a data row into
 * numbers exactly as training did: the vocabularies (id, weighted), the
 * normalisation statistics (float ... normalize), the hash seed. Its life:
 *
 *   rt_enc_new                     groups features that share a vocabulary
 *   rt_enc_bind(csv header)        columns of each feature, per file set
 *   rt_enc_parse + rt_enc_count    training pass 1: vocabularies, statistics
 *   rt_enc_freeze                  (or rt_enc_load from a checkpoint)
 *   rt_enc_parse + rt_enc_encode   every row: e->ids[f], e->vals[f] hold it
 *
 * Vocabulary sharing: features the compiler united (DmcFeature.vocab_of:
 * those looked up in one table) and next(F) with F share one vocabulary,
 * counted over all their columns. Its size is the smallest `vocab` among
 * them (the compiler makes them equal), so no index can fall outside any
 * of their tables. Statistics are counted once per distinct column set
 * ("owner" features), so F and next(F) do not count a row twice.
 *
 * Value rules: an empty id is padding 0; an id not in the vocabulary is 1
 * (counted per feature); ids must be integers ("12" or "12.0"), negative
 * ones included; an integer beyond 64 bits cannot be in a vocabulary: it is
 * 1 and counted apart; hash values are strings hashed with one seed for all
 * features (bucket 0 = empty); a cross is the chained hash of its sources'
 * raw fields, bucket 0 if any is empty; floats take log1p first when asked
 * (sign-preserving, so sign(x)*log1p(|x|)), then the z-score; an empty
 * float takes the default or is an error; NaN, Inf and values beyond the
 * 32-bit float range are errors; a weighted item is "id:value" (weight 1
 * without ":"). A list longer than its N keeps its first N items (the
 * convention of history columns: most recent first); such rows are counted
 * per feature and reported, with the first one's file and line. Rows whose
 * field count differs from the header's, or with a field over the CSV
 * reader's limit, are bad rows like a non-number (rt_enc_bind makes the
 * reader return them, rt_enc_parse reports them). Empty values of
 * one-column features are counted per feature.
 * Items of a list are trimmed of spaces. A pair source (weighted[N] from
 * IDCOL:VALCOL, group_by models) reads one (id, value) pair per row into
 * slot 0, the other slots padding (dataset.c gathers a group's rows into
 * one example); its value column may be absent under
 * RT_BIND_LABEL_OPTIONAL when it is the held-out feature (values 0). The
 * group_by key is an integer or the hash of the text; empty is an error.
 *
 * Limits: ids are 64-bit integers (string ids belong in hash features);
 * parsing is single-threaded; the encoder owns one set of scratch rows.
 */
#ifndef RT_ENCODER_H
#define RT_ENCODER_H

#include <stdint.h>
#include <stdio.h>

#include "csv.h"
#include "dmc_abi.h"
#include "normalize.h"
#include "rterr.h"
#include "vocab.h"

#define RT_HASH_SEED 0x646d632d68617368ULL /* "dmc-hash"; saved in checkpoints */

typedef enum RtBad {      /* why a row was rejected (counted with --skip-bad) */
  RT_BAD_NONE,
  RT_BAD_NUMBER,          /* a value that is not a number */
  RT_BAD_EMPTY,           /* an empty float without a default, or an empty label */
  RT_BAD_LIST,            /* more rows in a group_by group than it has room for */
  RT_BAD_FIELDS,          /* a field count that differs from the header's */
  RT_BAD_LONG,            /* a field over the CSV reader's limit (1 MB) */
  RT_BAD_NONFINITE,       /* NaN, Inf, or beyond the 32-bit float range */
  RT_BAD_COUNT
} RtBad;

typedef struct RtEncNotes { /* per feature: what the rows held that is counted, not an error */
  uint64_t big;           /* ids beyond 64 bits (encoded out of vocabulary) */
  uint64_t blank;         /* rows whose (one-column) value was empty: padding or the default */
  uint64_t cut;           /* rows whose list was longer than its N: the first N kept */
  int64_t cut_len;        /* the longest such list */
  char cut_at[300];       /* "file:line" of the first */
} RtEncNotes;

extern const char *const rt_bad_names[RT_BAD_COUNT];

typedef struct RtVocabGroup {
  RtVocab *v;
  int leader;             /* the feature whose name keys the checkpoint blob */
  int64_t size;           /* smallest vocab of the members */
  int min_count;          /* largest min_count of the members */
} RtVocabGroup;

typedef struct RtEncoder {
  const DmcModel *m;
  uint64_t hash_seed;
  int frozen;
  int nf;                 /* m->nfeatures */
  uint8_t *active;        /* [nf] 1: parsed and encoded (used by the graph or a negative) */
  uint8_t *needcols;      /* [nf] 1: its columns are bound (active, or a cross source) */
  int *owner;             /* [nf] feature that counts statistics for this column set */
  int *group;             /* [nf] vocabulary group, -1 for none */
  RtVocabGroup *groups;
  int ngroups;
  RtNorm **norm;          /* [nf] statistics (owners' own, others point to the owner's) */
  int label;              /* first label feature, -1 if none */

  /* binding to the current file set's header */
  const char *path;       /* first file, for messages */
  int *colbase;           /* [nf] index of the feature's first entry in col */
  int *col;               /* column index per feature column; -1 unbound */
  int has_label;          /* the label column is present */
  int group_col, by_col, order_col;
  int key_col;            /* the group_by column, -1 if the model has none */
  int *valcol;            /* [nf] value column of a pair source; -1 none or absent */

  /* the current row: raw values, then encoded */
  int64_t **raw;          /* [nf][width] ids or buckets */
  double **rawv;          /* [nf][width] floats, weights, label */
  uint8_t **empty;        /* [nf][width] 1: padding; 2: an id beyond 64 bits (out of vocabulary) */
  int32_t **ids;          /* [nf][width] encoded ids (id, hash, weighted, cross) */
  float **vals;           /* [nf][width] encoded floats, weights, label */
  int64_t row_group;      /* GAUC group of the row (0 if none) */
  int64_t row_key;        /* group_by key of the row */
  int64_t row_by;         /* next_by key */
  double row_order;       /* next_order value */

  uint64_t *seen, *oov;   /* [nf] non-empty ids encoded, and of those out of vocabulary */
  RtEncNotes *notes;      /* [nf] counted by rt_enc_parse */
  char numbuf[256];
} RtEncoder;

/* An encoder for m, vocabularies and statistics empty; NULL if out of memory. */
RtEncoder *rt_enc_new(const DmcModel *m);
void rt_enc_free(RtEncoder *e);

enum {
  RT_BIND_LABEL_OPTIONAL = 1,  /* predict: files need not hold the label */
  RT_BIND_TARGET_OPTIONAL = 2  /* retrieve: nor the retrieval target (DmcModel.retrieve_target),
                                  whose ids are then padding */
};

/* Binds every needed feature column, the GAUC group column (group_name, or
 * the first of userId, uid, user_id, user in the header; -1 if none) and
 * next_by/next_order to csv's header, and makes csv return rows with a
 * wrong field count or an over-long field (rt_csv_tolerate) for
 * rt_enc_parse to report. -1 and *err naming the missing column, its
 * feature and path on error. */
int rt_enc_bind(RtEncoder *e, RtCsv *csv, const char *path, int flags,
                const char *group_name, RtError *err);

/* Parses the current row into the raw scratch: RT_BAD_NONE, or the reason
 * with *err = "file:line: column NAME: what". */
RtBad rt_enc_parse(RtEncoder *e, const RtCsv *csv, RtError *err);
/* Training pass 1: adds the parsed row to vocabularies and statistics. */
int rt_enc_count(RtEncoder *e, RtError *err);
/* Ends counting: builds every vocabulary. */
int rt_enc_freeze(RtEncoder *e, RtError *err);
/* Encodes the parsed row into e->ids / e->vals (frozen encoders only). */
void rt_enc_encode(RtEncoder *e);

/* Vocabularies, statistics and the hash seed as checkpoint metadata. */
struct RtCkptWriter;
struct RtCkpt;
int rt_enc_save(const RtEncoder *e, struct RtCkptWriter *w, RtError *err);
int rt_enc_load(RtEncoder *e, const struct RtCkpt *c, RtError *err);

/* Zeroes the per-feature counters (seen, oov, notes). */
void rt_enc_reset_counts(RtEncoder *e);
/* Prints what was counted since the last reset, one line per feature and
 * kind: out-of-vocabulary ids, ids beyond 64 bits, empty values, lists cut
 * to their N. */
void rt_enc_report_oov(const RtEncoder *e, const char *what, FILE *out);
/* Prints the vocabularies' sizes (after freezing). */
void rt_enc_report_vocab(const RtEncoder *e, FILE *out);

#endif
