// kernels.c: the op kernels in float, for generated programs (see kernels.h), and
// the entry point generated code calls, which can time each call for a profile.
#include <time.h>

#include "kernels.h"

#define REAL float
#define K_(name) name##_f32
#define K_MATH(fn) fn##f
#define K_POLY_EXP
#define KFN dmc_kernel_f32_run
#define K_SHARED_GEMM(...) (dmc_kernel_gemm_hook && dmc_kernel_gemm_hook(__VA_ARGS__))
void KFN(const DmcKernel *k, int B, REAL *out, const void *const *in, uint64_t seed, int training);
#include "kernels_impl.h"

_Thread_local DmcGemmFn dmc_kernel_gemm_hook;

void dmc_gemm_f32(int64_t M, int64_t N, int64_t Kd, const float *A, int64_t ars, int64_t acs, const float *W,
                  int64_t wrs, int64_t wcs, float *C, int64_t ldc, int accumulate) {
  gemm_f32(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate);
}

void (*dmc_kernel_timer)(const DmcKernel *k, int B, double seconds);

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void dmc_kernel_f32(const DmcKernel *k, int B, float *out, const void *const *in, uint64_t seed, int training) {
  void (*timer)(const DmcKernel *, int, double) = dmc_kernel_timer;
  if (!timer) {
    dmc_kernel_f32_run(k, B, out, in, seed, training);
    return;
  }
  double t0 = seconds_now();
  dmc_kernel_f32_run(k, B, out, in, seed, training);
  timer(k, B, seconds_now() - t0);
}
