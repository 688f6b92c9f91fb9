/* zipf.h -- draws from a Zipf distribution over ranks 0..k-1, P(r) ~ (r + 1)^-s.
 *
 * Synthetic ids follow it (`PROG synth`, `PROG bench --zipf`): recommendation
 * ids are heavy-tailed, and the skew decides how often an embedding row is
 * already in cache. A table of k cumulative weights (8k bytes) and a binary
 * search per draw; s = 0 is the uniform distribution.
 */
#ifndef RT_ZIPF_H
#define RT_ZIPF_H

#include <stdint.h>

#include "rng.h"

typedef struct RtZipf {
  int64_t k;
  double s;
  double *cdf;             /* [k] cumulative probabilities, cdf[k-1] = 1 */
} RtZipf;

/* 0, or -1 when out of memory. k >= 1, s >= 0. */
int rt_zipf_init(RtZipf *z, int64_t k, double s);
void rt_zipf_free(RtZipf *z);
/* A rank in [0, k). */
int64_t rt_zipf_draw(const RtZipf *z, RtRng *r);

#endif
