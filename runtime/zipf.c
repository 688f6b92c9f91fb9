/* zipf.c -- Zipf draws by inverting the cumulative weights (see zipf.h). */
#include "zipf.h"

#include <math.h>
#include <stdlib.h>

int rt_zipf_init(RtZipf *z, int64_t k, double s) {
  z->k = k < 1 ? 1 : k;
  z->s = s;
  if (!(z->cdf = malloc((size_t)z->k * sizeof *z->cdf))) return -1;
  double sum = 0;
  for (int64_t i = 0; i < z->k; i++) z->cdf[i] = sum += pow((double)(i + 1), -s);
  for (int64_t i = 0; i < z->k; i++) z->cdf[i] /= sum;
  z->cdf[z->k - 1] = 1;    /* rounding must not leave a u above the last entry */
  return 0;
}

void rt_zipf_free(RtZipf *z) {
  free(z->cdf);
  z->cdf = NULL;
}

int64_t rt_zipf_draw(const RtZipf *z, RtRng *r) {
  double u = rt_rng_uniform(r);
  int64_t lo = 0, hi = z->k - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (z->cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
