/* share.c -- see share.h. The pool splits a GEMM by columns, in whole vectors:
 * a request's rows are few, so a GEMM with a large weight is bound by streaming
 * W, and each thread streams its own columns from its own cache (the same sums
 * in the same order as one thread: the same bits). Smaller GEMMs, or splitting
 * by rows, were measured slower (DIN's attention MLP, [50,128] x [128,80]:
 * batch-1 p50 27.0 us shared against 24.7 alone): rows' inputs and results then
 * cross between cores, and a round costs about a microsecond. */
#include "share.h"

#include <stddef.h>

#include "kernels.h"

#define SHARE_MIN_W ((int64_t)1 << 16)

static _Thread_local RtPool *share_pool;

typedef struct {
  int64_t M, N, Kd, ars, acs, wrs, wcs, ldc;
  const float *A, *W;
  float *C;
  int accumulate, parts;
} SharedGemm;

static void part(void *arg, int t) {
  const SharedGemm *g = arg;
  int64_t lo, hi;
  rt_pool_split(g->N, g->parts, t, &lo, &hi);   /* cut at 16 columns */
  if (lo < hi)
    dmc_gemm_f32(g->M, hi - lo, g->Kd, g->A, g->ars, g->acs, g->W + lo * g->wcs, g->wrs, g->wcs, g->C + lo, g->ldc,
                 g->accumulate);
}

static int shared_gemm(int64_t M, int64_t N, int64_t Kd, const float *A, int64_t ars, int64_t acs, const float *W,
                       int64_t wrs, int64_t wcs, float *C, int64_t ldc, int accumulate) {
  RtPool *p = share_pool;
  int parts = rt_pool_size(p);
  if (parts < 2 || N * Kd < SHARE_MIN_W || N < (int64_t)parts * 16) return 0;
  SharedGemm g = {M, N, Kd, ars, acs, wrs, wcs, ldc, A, W, C, accumulate, parts};
  rt_pool_run(p, part, &g);
  return 1;
}

void rt_share_begin(RtPool *p) {
  share_pool = p;
  dmc_kernel_gemm_hook = p && rt_pool_size(p) > 1 ? shared_gemm : NULL;
}
