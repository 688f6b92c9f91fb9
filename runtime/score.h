/* score.h -- inference over a data set: forward passes in batches, on one
 * or several threads, and the evaluation metrics of the result.
 *
 * A scorer owns per thread a batch, a workspace and a loss buffer, sized
 * once for max_batch rows. rt_scorer_run runs the forward pass (training 0)
 * over every row of a data set in file order; thread t takes batches t,
 * t + T, ..., so the scores do not depend on the number of threads
 * (negatives are drawn from a generator seeded per batch). The parameters
 * are only read, so threads share them. Scores are output 0 (or the one
 * rt_scorer_set_output chose), all of its elements per row.
 *
 * Metrics (rt_eval_metrics): the mean loss always; with a label, AUC and
 * GAUC (when the data has a group column) if every label is 0 or 1, and
 * logloss if moreover every score is in [0, 1]; RMSE otherwise. The score
 * compared with the label is element 0 of output 0. Retrieval models
 * (retrieve.h) have no label metrics: their scores are the user vectors,
 * and rt_eval_recall measures recall@k of the retrieved items instead.
 */
#ifndef RT_SCORE_H
#define RT_SCORE_H

#include "dataset.h"
#include "retrieve.h"

typedef struct RtScorer RtScorer;

RtScorer *rt_scorer_new(const DmcModel *m, const RtEncoder *e, int max_batch, int nthreads,
                        RtError *err);
void rt_scorer_free(RtScorer *s);
/* Which output rt_scorer_run copies (default 0). */
void rt_scorer_set_output(RtScorer *s, int output);
/* scores: [d->n * outputs[output].size]; *loss_sum: the sum of the per-example losses
 * (loss_sum NULL: the outputs alone, the losses not computed). */
int rt_scorer_run(RtScorer *s, const RtData *d, const float *params, uint64_t seed, float *scores,
                  double *loss_sum, RtError *err);
/* The same over rows[0..nrows) of d, in that order: scores [nrows * size]. */
int rt_scorer_run_rows(RtScorer *s, const RtData *d, const int64_t *rows, int64_t nrows,
                       const float *params, uint64_t seed, float *scores, double *loss_sum,
                       RtError *err);

typedef struct RtEvalResult {
  int64_t rows;
  double loss;             /* mean per-example loss */
  int has_label, binary, has_logloss, has_gauc;
  double auc, logloss, gauc, rmse;
  int has_recall;          /* retrieval models: recall instead of the label's metrics */
  RtRecall recall;
  int has_heldout;         /* group_by models scored on held-out rows (heldout.h): rows are
                              the held-out rows, rmse/mae their error, loss the model's mean
                              loss on the input groups that were scored */
  double mae, fallback;    /* ... and the default prediction of rows without an input */
  int64_t defaulted;       /* rows given the default */
} RtEvalResult;

void rt_eval_metrics(const DmcModel *m, const RtEncoder *e, const RtData *d, const float *scores,
                     double loss_sum, RtEvalResult *r);
/* Retrieval models, after rt_eval_metrics: recall@k and recall@10, users
 * being the scores of the retrieval output and w the parameters. */
int rt_eval_recall(const DmcModel *m, const RtEncoder *e, const RtData *d, const float *w,
                   const float *users, int k, int nthreads, RtEvalResult *r, RtError *err);

#endif
