/* metrics.c -- AUC, GAUC, logloss, RMSE (see metrics.h).
 *
 * AUC is computed with the rank-sum (Mann-Whitney) formula on examples
 * sorted by score: (sum of positive ranks - P(P+1)/2) / (P N), with tied
 * scores given the mean of their ranks. GAUC sorts by (group, score) and
 * applies the same to each group's run.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#define LOGLOSS_EPS 1e-7

typedef struct Point {
  float score, label;
  int64_t group;
} Point;

struct RtMetrics {
  Point *p; /* [n] */
  size_t n, cap;
};

RtMetrics *rt_metrics_new(void) { return calloc(1, sizeof(RtMetrics)); }

int rt_metrics_add(RtMetrics *m, float score, float label, int64_t group) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 4096;
    Point *p = realloc(m->p, cap * sizeof *p);
    if (!p) return -1;
    m->p = p;
    m->cap = cap;
  }
  Point pt = {score, label, group};
  m->p[m->n++] = pt;
  return 0;
}

size_t rt_metrics_count(const RtMetrics *m) { return m->n; }

void rt_metrics_reset(RtMetrics *m) { m->n = 0; }

static int by_score(const void *a, const void *b) {
  const Point *x = a, *y = b;
  return (x->score > y->score) - (x->score < y->score);
}

static int by_group_score(const void *a, const void *b) {
  const Point *x = a, *y = b;
  if (x->group != y->group) return x->group < y->group ? -1 : 1;
  return by_score(a, b);
}

/* AUC of p[0..n), sorted by score; NaN when one class is missing. */
static double auc_sorted(const Point *p, size_t n) {
  double rank_sum = 0;
  size_t npos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[j].score == p[i].score) j++;
    double rank = (double)(i + 1 + j) / 2; /* mean of ranks i+1..j */
    for (size_t k = i; k < j; k++)
      if (p[k].label > 0.5f) {
        rank_sum += rank;
        npos++;
      }
    i = j;
  }
  size_t nneg = n - npos;
  if (npos == 0 || nneg == 0) return NAN;
  return (rank_sum - (double)npos * (double)(npos + 1) / 2) / ((double)npos * (double)nneg);
}

double rt_metrics_auc(RtMetrics *m) {
  if (m->n) qsort(m->p, m->n, sizeof *m->p, by_score);
  return auc_sorted(m->p, m->n);
}

double rt_metrics_gauc(RtMetrics *m) {
  if (m->n) qsort(m->p, m->n, sizeof *m->p, by_group_score);
  double sum = 0, weight = 0;
  for (size_t i = 0; i < m->n;) {
    size_t j = i;
    while (j < m->n && m->p[j].group == m->p[i].group) j++;
    double auc = auc_sorted(m->p + i, j - i);
    if (!isnan(auc)) {
      sum += auc * (double)(j - i);
      weight += (double)(j - i);
    }
    i = j;
  }
  return weight > 0 ? sum / weight : NAN;
}

double rt_metrics_logloss(const RtMetrics *m) {
  if (!m->n) return NAN;
  double sum = 0;
  for (size_t i = 0; i < m->n; i++) {
    double p = fmin(fmax(m->p[i].score, LOGLOSS_EPS), 1 - LOGLOSS_EPS);
    double y = m->p[i].label;
    sum -= y * log(p) + (1 - y) * log(1 - p);
  }
  return sum / (double)m->n;
}

double rt_metrics_rmse(const RtMetrics *m) {
  if (!m->n) return NAN;
  double sum = 0;
  for (size_t i = 0; i < m->n; i++) {
    double d = (double)m->p[i].score - m->p[i].label;
    sum += d * d;
  }
  return sqrt(sum / (double)m->n);
}

void rt_metrics_free(RtMetrics *m) {
  if (!m) return;
  free(m->p);
  free(m);
}
