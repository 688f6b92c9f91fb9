// kernels.c: the op kernels in float, for generated programs (see kernels.h), and
// the entry point generated code calls, which can time each call for a profile.
#include <time.h>

#include "kernels.h"

#define REAL float
#define K_(name) name##_f32
#define K_MATH(fn) fn##f
#define K_POLY_EXP
#define KFN dmc_kernel_f32_run
void KFN(const DmcKernel *k, int B, REAL *out, const void *const *in, uint64_t seed, int training);
#include "kernels_impl.h"

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
