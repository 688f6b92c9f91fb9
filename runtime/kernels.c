// kernels.c: the op kernels in float, for generated programs (see kernels.h), and
// the entry point generated code calls, which can time each call for a profile.
#include <time.h>

#include "kernels.h"

#define REAL float
#define K_(name) name##_f32
#define K_MATH(fn) fn##f
#define K_POLY_EXP
#define K_TRANSPOSE16   // float's 16 lanes: gemm_impl.h transposes a W block and sums 16 rows in registers
#define KFN dmc_kernel_f32_run
#define K_SHARED_GEMM shared_gemm
static int shared_gemm(int64_t M, int64_t N, int64_t Kd, const float *A, int64_t ars, int64_t acs, const float *W,
                       int64_t wrs, int64_t wcs, float *C, int64_t ldc, int accumulate);
void KFN(const DmcKernel *k, int B, REAL *out, const void *const *in, uint64_t seed, int training);
#include "kernels_impl.h"

// The threads of one request (kernels.h): a GEMM whose weight has at least
// SHARE_MIN_W elements is split by columns, whole vectors, among them. A
// request's rows are few, so such a GEMM is bound by streaming W, and each
// thread streams its own columns from its own cache, with the same sums in the
// same order as one thread (the same bits). Smaller GEMMs, or splitting by rows,
// were measured slower (DIN's attention MLP, [50,128] x [128,80]: batch-1 p50
// 27.0 us shared against 24.7 alone): rows' inputs and results then cross
// between cores, and a round costs about a microsecond.
_Thread_local const DmcKernelShare *dmc_kernel_share;
#define SHARE_MIN_W ((int64_t)1 << 16)

typedef struct {
  int64_t M, N, Kd, ars, wrs, wcs, ldc, cols;
  const float *A, *W;
  float *C;
} SharedGemm;

static void shared_part(void *arg, int t) {
  const SharedGemm *g = arg;
  int64_t lo = t * g->cols < g->N ? t * g->cols : g->N, hi = lo + g->cols < g->N ? lo + g->cols : g->N;
  // acs 1, no accumulate: the arguments of the calls below, so the GEMM GCC
  // specialises for them serves this call too (a general call site made
  // DIN's batch-1 latency 10% slower)
  if (lo < hi) gemm_f32(g->M, hi - lo, g->Kd, g->A, g->ars, 1, g->W + lo * g->wcs, g->wrs, g->wcs, g->C + lo, g->ldc, 0);
}

static int shared_gemm(int64_t M, int64_t N, int64_t Kd, const float *A, int64_t ars, int64_t acs, const float *W,
                       int64_t wrs, int64_t wcs, float *C, int64_t ldc, int accumulate) {
  const DmcKernelShare *s = dmc_kernel_share;
  if (!s || s->parts < 2 || acs != 1 || accumulate || N * Kd < SHARE_MIN_W || N < 16 * (int64_t)s->parts) return 0;
  int64_t cols = (N + s->parts - 1) / s->parts;
  SharedGemm g = {M, N, Kd, ars, wrs, wcs, ldc, (cols + K_LANES - 1) / K_LANES * K_LANES, A, W, C};
  s->run(s->ctx, shared_part, &g);
  return 1;
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

// The stamp: for which parameter block, and which state of it (DmcCtx.params_version),
// the workspace's prepared values were computed.
typedef struct {
  const float *params;
  uint64_t version;
} Stamp;

int dmc_params_stale(const DmcCtx *ctx) {
  Stamp was, now = {ctx->training ? NULL : ctx->params, ctx->training ? 0 : ctx->params_version};
  memcpy(&was, ctx->workspace, sizeof was);
  memcpy(ctx->workspace, &now, sizeof now);
  return !now.version || was.params != now.params || was.version != now.version;
}

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

// MXCSR's flush-to-zero and denormals-are-zero bits: an FMA on a denormal takes a
// microcode assist of about 100 cycles, and an untrained model's tiny values made
// examples/nfm's first layer 11x slower (0.175 -> 0.016 ms a training step, PROG
// bench --profile). Values below 1.2e-38 become 0, as TensorFlow does on CPUs.
// Threads created afterwards inherit the setting.
void dmc_flush_denormals(void) {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}
