/* metrics.h -- evaluation metrics over a stream of predictions.
 *
 * rt_metrics_add appends one (score, label, group) triple to a growable
 * array; the metric functions read the whole array. A label > 0.5 counts
 * as positive for AUC and GAUC; logloss takes labels in [0, 1] and clamps
 * scores to [1e-7, 1 - 1e-7]; RMSE is for regression scores.
 *
 * AUC is exact: examples sorted by score, tied scores share their average
 * rank (so a tie between a positive and a negative counts one half). GAUC
 * is the AUC of each group (user), averaged with the group's number of
 * examples as weight, skipping groups that hold only one class. A metric
 * with nothing to measure (no examples, one class only) is NaN. AUC and
 * GAUC reorder the stored array; scores must not be NaN. Memory: 16 bytes
 * per example.
 */
#ifndef RT_METRICS_H
#define RT_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct RtMetrics RtMetrics;

RtMetrics *rt_metrics_new(void);
/* 0, or -1 if out of memory. */
int rt_metrics_add(RtMetrics *m, float score, float label, int64_t group);
size_t rt_metrics_count(const RtMetrics *m);
/* Forgets all examples, keeps the memory. */
void rt_metrics_reset(RtMetrics *m);
double rt_metrics_auc(RtMetrics *m);
double rt_metrics_gauc(RtMetrics *m);
double rt_metrics_logloss(const RtMetrics *m);
double rt_metrics_rmse(const RtMetrics *m);
void rt_metrics_free(RtMetrics *m);

#endif
