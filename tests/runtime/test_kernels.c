/* test_kernels.c -- the float kernels' own math: the polynomial exp (K_POLY_EXP)
 * and the sigmoid built on it against libm over the whole float range they
 * meet, and the GEMM's register tiles against a plain triple loop on shapes
 * that hit every edge (single rows, partial tiles, columns past the last vector,
 * K across blocks, W read in place and packed, a transposed left operand through
 * matmul_tn, a transposed W through matmul_nt, packed by 16 x 16 transposes), through the kernels programs
 * link and, for what no kernel reaches (sums added into a C that holds values, a
 * C whose rows are strided), on K_(gemm) itself: this file compiles its own copy
 * of kernels_impl.h, for this file's target (the logic is the same on any ISA). */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test.h"

/* The kernels again, under other names, for direct calls of the GEMM. */
#define REAL float
#define K_(name) name##_direct
#define K_MATH(fn) fn##f
#define K_TRANSPOSE16   /* as kernels.c: a transposed W packed 16 x 16 in registers */
#define KFN dmc_kernel_direct
void KFN(const DmcKernel *k, int B, REAL *out, const void *const *in, uint64_t seed, int training);
#include "kernels_impl.h"

static DmcKShape shape1(int n, int batched) { return (DmcKShape){1, {n, 0, 0, 0}, batched, 0, 0}; }

static void test_exp_and_sigmoid(void) {
  enum { N = 20001 };
  static float x[N], y[N], s[N];
  for (int i = 0; i < N; i++) x[i] = -87.0f + 175.0f * (float)i / (N - 1);
  DmcKernel k = {.op = DMC_OP_EXP, .out = shape1(N, 0), .nin = 1, .in = {shape1(N, 0)}};
  const void *in[1] = {x};
  dmc_kernel_f32(&k, 1, y, in, 0, 0);
  k.op = DMC_OP_SIGMOID;
  dmc_kernel_f32(&k, 1, s, in, 0, 0);
  double worst_exp = 0, worst_sig = 0;
  for (int i = 0; i < N; i++) {
    double e = exp((double)x[i]), sg = 1 / (1 + exp(-(double)x[i]));
    worst_exp = fmax(worst_exp, fabs(y[i] - e) / e);
    worst_sig = fmax(worst_sig, fabs(s[i] - sg) / sg);
  }
  CU_ASSERT(worst_exp < 3e-7);   /* a few float ulps */
  CU_ASSERT(worst_sig < 3e-7);
}

/* tanh from the same exp, and its series near 0, within a few ulps of libm: on a
 * wide range and on a fine one around 0 and the switch at |x| = 1/4. */
static void test_tanh(void) {
  enum { N = 20001 };
  static float x[2 * N], y[2 * N];
  for (int i = 0; i < N; i++) x[i] = -40.0f + 80.0f * (float)i / (N - 1), x[N + i] = -0.6f + 1.2f * (float)i / (N - 1);
  DmcKernel k = {.op = DMC_OP_TANH, .out = shape1(2 * N, 0), .nin = 1, .in = {shape1(2 * N, 0)}};
  const void *in[1] = {x};
  dmc_kernel_f32(&k, 1, y, in, 0, 0);
  double worst = 0;
  for (int i = 0; i < 2 * N; i++)
    if (x[i] != 0) worst = fmax(worst, fabs(y[i] - tanh((double)x[i])) / fabs(tanh((double)x[i])));
  CU_ASSERT(worst < 5e-7);
}

/* C[M, N] = A[M, K] W[K, N] through a MATMUL kernel, against doubles; W at a
 * 64-byte boundary plus woff floats (the GEMM packs W when its rows are not
 * whole cache lines, so an offset of 1 takes the packed path). */
static double gemm_error(int M, int K, int N, int woff) {
  size_t wsize = (sizeof(float) * ((size_t)K * N + 16) + 63) / 64 * 64;   /* aligned_alloc: a multiple of 64 */
  float *a = malloc(sizeof(float) * (size_t)M * K), *wbuf = aligned_alloc(64, wsize);
  float *w = wbuf + woff;
  float *c = malloc(sizeof(float) * (size_t)M * N);
  for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37 % 101) - 50) / 50;
  for (int i = 0; i < K * N; i++) w[i] = (float)((i * 53 % 97) - 48) / 48;
  DmcKernel k = {.op = DMC_OP_MATMUL, .out = shape1(N, 1), .nin = 2,
                 .in = {shape1(K, 1), {2, {K, N, 0, 0}, 0, 0}}};
  const void *in[2] = {a, w};
  dmc_kernel_f32(&k, M, c, in, 0, 0);
  double worst = 0;
  for (int r = 0; r < M; r++)
    for (int j = 0; j < N; j++) {
      double want = 0, mag = 0;
      for (int p = 0; p < K; p++) want += (double)a[r * K + p] * w[p * N + j], mag += fabs((double)a[r * K + p] * w[p * N + j]);
      worst = fmax(worst, fabs(c[r * N + j] - want) / fmax(mag, 1e-30));
    }
  free(a), free(wbuf), free(c);
  return worst;
}

static void test_gemm_tiles(void) {
  static const int shapes[][3] = {{1, 1, 1},   {1, 429, 400}, {7, 3, 17},   {6, 256, 64}, {13, 300, 80},
                                  {5, 513, 33}, {2, 40, 200},  {25, 16, 272}, {1, 600, 1000},
                                  {9, 300, 2},  {3, 70, 1},    {50, 600, 70}, {37, 513, 129}, {300, 257, 400},
                                  {12, 5, 33},  {64, 256, 64},
                                  /* DIN's attention MLP: N = 40 and 80 (an overlapping last vector, a
                                     4 x 5 tile), K = 1 (an outer product), N = 1 with K = 40 (a dot
                                     product's tail as one vector) */
                                  {250, 128, 80}, {250, 80, 40}, {250, 1, 40}, {250, 40, 1}, {13, 40, 81},
                                  {7, 300, 72},   {1, 40, 40},   {1, 300, 81}, {1, 40, 1},   {20, 15, 1},
                                  {11, 40, 400},  {9, 513, 88},  {6, 1, 17},   {5, 7, 7},    {1, 1, 24}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int woff = 0; woff < 2; woff++) {
      double e = gemm_error(shapes[i][0], shapes[i][1], shapes[i][2], woff);
      if (e >= 1e-6)
        fprintf(stderr, "gemm %dx%dx%d (W +%d): relative error %g\n", shapes[i][0], shapes[i][1], shapes[i][2], woff, e);
      CU_ASSERT(e < 1e-6);
    }
}

/* matmul_tn: sum over the batch of a[b, k] b[b, n] -> [k, n] (a transposed left
 * operand: the weight gradient), against doubles. */
static void test_matmul_tn(void) {
  static const int shapes[][3] = {{5, 7, 3},      {300, 33, 17},  {64, 80, 1},   {257, 16, 40}, {300, 429, 400},
                                  {100, 257, 65}, {600, 128, 80}, {600, 80, 40}, {600, 40, 1},  {300, 7, 1}};
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    int Bn = shapes[t][0], K = shapes[t][1], N = shapes[t][2];
    float *a = malloc(sizeof(float) * (size_t)Bn * K), *b = malloc(sizeof(float) * (size_t)Bn * N);
    float *c = malloc(sizeof(float) * (size_t)K * N);
    for (int i = 0; i < Bn * K; i++) a[i] = (float)((i * 31 % 89) - 44) / 44;
    for (int i = 0; i < Bn * N; i++) b[i] = (float)((i * 17 % 83) - 41) / 41;
    DmcKernel k = {.op = DMC_OP_MATMUL_TN, .out = {2, {K, N, 0, 0}, 0, 0}, .nin = 2, .in = {shape1(K, 1), shape1(N, 1)}};
    const void *in[2] = {a, b};
    dmc_kernel_f32(&k, Bn, c, in, 0, 1);
    double worst = 0;
    for (int i = 0; i < K; i++)
      for (int j = 0; j < N; j++) {
        double want = 0, mag = 0;
        for (int p = 0; p < Bn; p++) want += (double)a[p * K + i] * b[p * N + j], mag += fabs((double)a[p * K + i] * b[p * N + j]);
        worst = fmax(worst, fabs(c[i * N + j] - want) / fmax(mag, 1e-30));
      }
    CU_ASSERT(worst < 1e-6);
    free(a), free(b), free(c);
  }
}

/* matmul_nt: a[M, K] @ b[N, K]^T (the input gradient of a matmul, W read
 * transposed by the GEMM's packing), b shared or per example, against doubles. */
static void test_matmul_nt(void) {
  static const int shapes[][4] = {{1, 429, 400, 0}, {256, 400, 429, 0}, {13, 300, 33, 0}, {7, 5, 1, 0},
                                  {1, 17, 70, 0},   {3, 40, 18, 1},     {20, 1, 400, 0},  {250, 40, 80, 0},
                                  {250, 1, 40, 0},  {250, 80, 128, 0},  {13, 40, 81, 0},  {1, 40, 40, 0}};
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    int M = shapes[t][0], K = shapes[t][1], N = shapes[t][2], per = shapes[t][3];
    int nb = per ? M : 1;   /* per example: M examples of one row each, each its own b */
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)nb * N * K);
    float *c = malloc(sizeof(float) * (size_t)M * N);
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 31 % 89) - 44) / 44;
    for (int i = 0; i < nb * N * K; i++) b[i] = (float)((i * 17 % 83) - 41) / 41;
    DmcKernel k = {.op = DMC_OP_MATMUL_NT, .out = shape1(N, 1), .nin = 2,
                   .in = {shape1(K, 1), {2, {N, K, 0, 0}, per, 0}}};
    const void *in[2] = {a, b};
    dmc_kernel_f32(&k, M, c, in, 0, 0);
    double worst = 0;
    for (int r = 0; r < M; r++)
      for (int j = 0; j < N; j++) {
        const float *br = b + ((size_t)(per ? r : 0) * N + j) * K;
        double want = 0, mag = 0;
        for (int p = 0; p < K; p++) want += (double)a[r * K + p] * br[p], mag += fabs((double)a[r * K + p] * br[p]);
        worst = fmax(worst, fabs(c[r * N + j] - want) / fmax(mag, 1e-30));
      }
    if (worst >= 1e-6) fprintf(stderr, "matmul_nt %dx%dx%d: relative error %g\n", M, K, N, worst);
    CU_ASSERT(worst < 1e-6);
    free(a), free(b), free(c);
  }
}

/* K_(gemm) itself on every path and edge: C = beta C + A W with beta 0 or 1 (C
 * filled first, so a tile that loads it or skips it wrongly shows), C's rows ldc
 * = N + 3 apart, A and W each plain or transposed, N across the vector width
 * (1, 2, 7 staged; 16, 17, 40, 72, 80, 81, 88, 400 in tiles, the last vector
 * overlapping its neighbour), K = 1, 40 and across a block, M not a multiple of
 * the tile's rows. Against doubles. */
static void test_gemm_direct(void) {
  static const int Ms[] = {1, 2, 5, 13, 47}, Ns[] = {1, 2, 7, 16, 17, 40, 72, 80, 81, 88, 400}, Ks[] = {1, 40, 300};
  int bad = 0, runs = 0;
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
      for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (int form = 0; form < 16; form++) {
          int M = Ms[mi], N = Ns[ni], K = Ks[ki], acc = form & 1, ta = form >> 1 & 1, tw = form >> 2 & 1, wide = form >> 3 & 1;
          int64_t ldc = wide ? N + 3 : N, ars = ta ? 1 : K, acs = ta ? M : 1, wrs = tw ? 1 : N, wcs = tw ? K : 1;
          float *a = malloc(sizeof(float) * (size_t)M * K), *w = malloc(sizeof(float) * ((size_t)K * N + 1));
          float *c = malloc(sizeof(float) * (size_t)M * ldc), *c0 = malloc(sizeof(float) * (size_t)M * ldc);
          for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37 % 101) - 50) / 50;
          for (int i = 0; i < K * N; i++) w[i + 1] = (float)((i * 53 % 97) - 48) / 48;   /* W at an odd offset */
          for (int i = 0; i < M * ldc; i++) c[i] = c0[i] = (float)((i * 29 % 89) - 44) / 44;
          gemm_direct(M, N, K, a, ars, acs, w + 1, wrs, wcs, c, ldc, acc);
          double worst = 0;
          for (int r = 0; r < M; r++)
            for (int64_t j = 0; j < ldc; j++) {
              if (j >= N) {   /* past the row: untouched */
                worst = fmax(worst, c[r * ldc + j] != c0[r * ldc + j]);
                continue;
              }
              double want = acc ? c0[r * ldc + j] : 0, mag = fabs(want);
              for (int p = 0; p < K; p++) {
                double t = (double)a[r * ars + p * acs] * w[1 + p * wrs + j * wcs];
                want += t, mag += fabs(t);
              }
              worst = fmax(worst, fabs(c[r * ldc + j] - want) / fmax(mag, 1e-30));
            }
          if (worst >= 1e-6) {
            if (bad < 10)
              fprintf(stderr, "gemm M=%d N=%d K=%d acc=%d A%s W%s ldc=%ld: relative error %g\n", M, N, K, acc,
                      ta ? "^T" : "", tw ? "^T" : "", (long)ldc, worst);
            bad++;
          }
          runs++;
          free(a), free(w), free(c), free(c0);
        }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(runs, 5 * 11 * 3 * 16);
}

/* Broadcasting that is neither a trailing nor a leading run (the general path of
 * the fused loader, a row at a time): x [P,1,C] * y [Q,1] -> [P,Q,C], over a batch
 * of 2; rows of C = 4 within one block, and rows of C = 29 in an output larger than
 * the loader's blocks, so blocks start and end inside rows. */
static void check_general_broadcast(int P, int Q, int C) {
  int on = P * Q * C;
  float *x = malloc(sizeof(float) * 2 * P * C), *y = malloc(sizeof(float) * 2 * Q), *out = malloc(sizeof(float) * 2 * on);
  for (int i = 0; i < 2 * P * C; i++) x[i] = (float)(i + 1);
  for (int i = 0; i < 2 * Q; i++) y[i] = (float)(100 * (i + 1));
  DmcKernel k = {.op = DMC_OP_MUL, .out = {3, {P, Q, C, 0}, 1, 0}, .nin = 2,
                 .in = {{3, {P, 1, C, 0}, 1, 0}, {2, {Q, 1, 0, 0}, 1, 0}}};
  const void *in[2] = {x, y};
  dmc_kernel_f32(&k, 2, out, in, 0, 0);
  int bad = 0;
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < P; i++)
      for (int j = 0; j < Q; j++)
        for (int c = 0; c < C; c++)
          bad += out[b * on + (i * Q + j) * C + c] != x[b * P * C + i * C + c] * y[b * Q + j];
  CU_ASSERT_EQUAL(bad, 0);
  free(x), free(y), free(out);
}

/* A GEMM of one or two columns sums its rows' dot products 16 rows at a time
 * (gemm_impl.h: K_(hsum16)) with the adds of a row alone: each row's result has the
 * same bits at any M, so a prediction does not depend on its batch. */
static void test_dot_rows_bits(void) {
  static const int Ks[] = {16, 40, 300};
  enum { M = 37 };
  int bad = 0;
  for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
    for (int N = 1; N <= 2; N++) {
      int K = Ks[ki];
      float *a = malloc(sizeof(float) * (size_t)M * K), *w = malloc(sizeof(float) * (size_t)K * N);
      float c[M * 2], c1[2];
      for (int i = 0; i < M * K; i++) a[i] = sinf((float)i * 0.37f) * 3.1f;
      for (int i = 0; i < K * N; i++) w[i] = cosf((float)i * 0.53f) / 1.7f;
      gemm_direct(M, N, K, a, K, 1, w, N, 1, c, N, 0);
      for (int r = 0; r < M; r++) {
        gemm_direct(1, N, K, a + r * K, K, 1, w, N, 1, c1, N, 0);
        bad += memcmp(c + r * N, c1, sizeof(float) * (size_t)N) != 0;
      }
      free(a), free(w);
    }
  CU_ASSERT_EQUAL(bad, 0);
}

static void test_general_broadcast(void) {
  check_general_broadcast(3, 5, 4);
  check_general_broadcast(7, 23, 29);
}

/* Small examples with a head (kernels_impl.h: K_FLAT_HEAD) run flat: one GEMM
 * over every example's rows, then the program over the batch. [R, 4] @ W[4, 3]
 * + bias[3], times each example's scalar, R = 1 and 2 rows, an odd batch,
 * against the definition. */
static void check_flat_head(int R) {
  enum { NB = 7, K = 4, N = 3 };
  float a[NB * 2 * K], w[K * N], bias[N], sc[NB], out[NB * 2 * N];
  for (int i = 0; i < NB * R * K; i++) a[i] = (float)(i % 7) - 3;
  for (int i = 0; i < K * N; i++) w[i] = (float)(i % 5) - 2;
  for (int i = 0; i < N; i++) bias[i] = (float)(10 * (i + 1));
  for (int i = 0; i < NB; i++) sc[i] = (float)(i + 2);
  static const DmcStep prog[3] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_ADD, 4, 2, 0, 0}, {DMC_OP_MUL, 5, 3, 0, 0}};
  DmcKShape o = R == 1 ? shape1(N, 1) : (DmcKShape){2, {R, N, 0, 0}, 1, 0, 0};
  DmcKShape ia = R == 1 ? shape1(K, 1) : (DmcKShape){2, {R, K, 0, 0}, 1, 0, 0};
  DmcKernel k = {.op = DMC_OP_FUSED, .out = o, .nin = 4,
                 .in = {ia, {2, {K, N, 0, 0}, 0, 0}, shape1(N, 0), {0, {0, 0, 0, 0}, 1, 0}}, .nstep = 3, .step = prog};
  const void *in[4] = {a, w, bias, sc};
  dmc_kernel_f32(&k, NB, out, in, 0, 0);
  int bad = 0;
  for (int b = 0; b < NB; b++)
    for (int r = 0; r < R; r++)
      for (int j = 0; j < N; j++) {
        float acc = 0;
        for (int p = 0; p < K; p++) acc += a[(b * R + r) * K + p] * w[p * N + j];
        bad += fabsf(out[(b * R + r) * N + j] - (acc + bias[j]) * sc[b]) > 1e-4f;
      }
  CU_ASSERT_EQUAL(bad, 0);
}

static void test_flat_head(void) {
  check_flat_head(1);
  check_flat_head(2);
}

/* An unmasked tail sum over a batch of small examples runs flat: x[P, T, Q] * w[Q]
 * summed over T into [P, Q] (P = 2, T = 5, Q = 4), an odd batch. */
static void test_flat_tail_sum(void) {
  enum { NB = 5, P = 2, T = 5, Q = 4 };
  float x[NB * P * T * Q], w[Q], out[NB * P * Q];
  for (int i = 0; i < NB * P * T * Q; i++) x[i] = (float)(i % 11) - 5;
  for (int i = 0; i < Q; i++) w[i] = (float)(i + 1);
  static const DmcStep prog[2] = {{DMC_OP_MUL, 0, 1, 0, 0}, {DMC_OP_SUM, 2, 2, 0, 0}};
  DmcKernel k = {.op = DMC_OP_FUSED, .out = {2, {P, Q, 0, 0}, 1, 0}, .nin = 2,
                 .in = {{3, {P, T, Q, 0}, 1, 0}, shape1(Q, 0)}, .axis = 1, .len = T, .nstep = 2, .step = prog};
  const void *in[2] = {x, w};
  dmc_kernel_f32(&k, NB, out, in, 0, 0);
  int bad = 0;
  for (int b = 0; b < NB; b++)
    for (int p = 0; p < P; p++)
      for (int q = 0; q < Q; q++) {
        float acc = 0;
        for (int t = 0; t < T; t++) acc += x[((b * P + p) * T + t) * Q + q] * w[q];
        bad += out[(b * P + p) * Q + q] != acc;
      }
  CU_ASSERT_EQUAL(bad, 0);
}

/* A fused program over a batch whose operands index alike in every example runs
 * as one long example (kernels_impl.h: flat): an example's own [5, 8] values,
 * an unbatched trailing [8], a batched trailing [8] (each example's own, copied
 * in runs of 8), a batched leading [5, 1] and each example's own scalar, over an
 * odd batch, against the element-wise definition. */
static void test_fused_over_the_batch(void) {
  enum { NB = 7, T = 5, D = 8 };
  float x[NB * T * D], bias[D], a[NB * D], m[NB * T], sc[NB], out[NB * T * D];
  for (int i = 0; i < NB * T * D; i++) x[i] = (float)(i % 13) - 6;
  for (int i = 0; i < D; i++) bias[i] = (float)(100 * (i + 1));
  for (int i = 0; i < NB * D; i++) a[i] = (float)(i + 1);
  for (int i = 0; i < NB * T; i++) m[i] = (float)(i % 3);
  for (int i = 0; i < NB; i++) sc[i] = (float)(i + 2);
  static const DmcStep prog[4] = {
      {DMC_OP_ADD, 0, 1, 0, 0}, {DMC_OP_MUL, 5, 2, 0, 0}, {DMC_OP_MUL, 6, 3, 0, 0}, {DMC_OP_MUL, 7, 4, 0, 0}};
  DmcKernel k = {.op = DMC_OP_FUSED, .out = {2, {T, D, 0, 0}, 1, 0}, .nin = 5,
                 .in = {{2, {T, D, 0, 0}, 1, 0}, shape1(D, 0), shape1(D, 1), {2, {T, 1, 0, 0}, 1, 0}, {0, {0, 0, 0, 0}, 1, 0}},
                 .nstep = 4, .step = prog};
  const void *in[5] = {x, bias, a, m, sc};
  dmc_kernel_f32(&k, NB, out, in, 0, 0);
  int bad = 0;
  for (int b = 0; b < NB; b++)
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++) {
        int i = (b * T + t) * D + d;
        bad += out[i] != (x[i] + bias[d]) * a[b * D + d] * m[b * T + t] * sc[b];
      }
  CU_ASSERT_EQUAL(bad, 0);
}

/* Operands that repeat a run are tiled (kernels_impl.h): (x + bias[v]) * q[b, v] + r[b, u, v]
 * over [T, U, V] examples, a parameter's run and an example's own runs, in the
 * batch's blocks, against the element-wise definition. [7, 1, 80]: runs of 80, each
 * tiled, blocks of 480 ending with each example of 560; [3, 9, 70]: runs of 70 and 630,
 * whose multiple exceeds a block of 512, read in place. With and without a matmul
 * head (by an identity W: the program then runs an example at a time). */
static int check_tiled_runs(int T, int U, int V, int head) {
  enum { NB = 5 };
  int on = T * U * V;
  float *x = malloc(sizeof(float) * NB * on), *out = malloc(sizeof(float) * NB * on), *bias = malloc(sizeof(float) * V);
  float *q = malloc(sizeof(float) * NB * V), *r = malloc(sizeof(float) * NB * U * V), *eye = calloc((size_t)V * V, sizeof(float));
  for (int i = 0; i < NB * on; i++) x[i] = (float)(i % 13) - 6;
  for (int i = 0; i < V; i++) bias[i] = (float)(100 * (i + 1)), eye[i * V + i] = 1;
  for (int i = 0; i < NB * V; i++) q[i] = (float)(i % 7 + 1);
  for (int i = 0; i < NB * U * V; i++) r[i] = (float)(i % 17);
  DmcStep prog[4] = {{DMC_OP_ADD, 0, 1, 0, 0}, {DMC_OP_MUL, 4, 2, 0, 0}, {DMC_OP_ADD, 5, 3, 0, 0}};
  DmcKernel k = {.op = DMC_OP_FUSED, .out = {3, {T, U, V, 0}, 1, 0, 0}, .nin = 4,
                 .in = {{3, {T, U, V, 0}, 1, 0, 0}, shape1(V, 0), shape1(V, 1), {2, {U, V, 0, 0}, 1, 0, 0}},
                 .nstep = 3, .step = prog};
  const void *in[5] = {x, bias, q, r, eye};
  if (head) {   // x @ eye first: operands 0 and 4, the program's slots after them
    k.nin = 5, k.in[4] = (DmcKShape){2, {V, V, 0, 0}, 0, 0, 0}, k.nstep = 4;
    prog[0] = (DmcStep){DMC_OP_MATMUL, 0, 4, 0, 0}, prog[1] = (DmcStep){DMC_OP_ADD, 5, 1, 0, 0};
    prog[2] = (DmcStep){DMC_OP_MUL, 6, 2, 0, 0}, prog[3] = (DmcStep){DMC_OP_ADD, 7, 3, 0, 0};
  }
  dmc_kernel_f32(&k, NB, out, in, 0, 0);
  int bad = 0;
  for (int b = 0; b < NB; b++)
    for (int t = 0; t < T; t++)
      for (int u = 0; u < U; u++)
        for (int v = 0; v < V; v++) {
          int i = b * on + (t * U + u) * V + v;
          bad += out[i] != (x[i] + bias[v]) * q[b * V + v] + r[(b * U + u) * V + v];
        }
  free(x), free(out), free(bias), free(q), free(r), free(eye);
  return bad;
}

static void test_tiled_runs(void) {
  for (int head = 0; head < 2; head++) {
    CU_ASSERT_EQUAL(check_tiled_runs(7, 1, 80, head), 0);
    CU_ASSERT_EQUAL(check_tiled_runs(3, 9, 70, head), 0);
    CU_ASSERT_EQUAL(check_tiled_runs(50, 1, 80, head), 0);
  }
}

/* Sums in 16 lanes (K_(sum_run)): every length from 0 to 100 (short serial runs,
 * whole lanes, a remainder) of integers, exact in float, against n(n+1)/2; and
 * through the kernels that use it: a sum over all axes, a dot product's tail sum
 * (fused [mul sum]) and a sum_to of [B, n] to one value per example. */
static void test_sum_lanes(void) {
  enum { N = 100, NB = 3 };
  static float x[NB * N], ones[N], y[NB];
  for (int i = 0; i < NB * N; i++) x[i] = (float)(i % N + 1);
  for (int i = 0; i < N; i++) ones[i] = 1;
  int bad = 0;
  for (int n = 0; n <= N; n++) bad += sum_run_direct(x, n) != (float)(n * (n + 1) / 2);
  CU_ASSERT_EQUAL(bad, 0);
  DmcKernel k = {.op = DMC_OP_SUM, .axis = DMC_AXIS_ALL, .out = {0, {0}, 1, 0}, .nin = 1, .in = {shape1(N, 1)}};
  const void *in[2] = {x, ones};
  for (int op = 0; op < 3; op++) {
    static const DmcStep prog[2] = {{DMC_OP_MUL, 0, 1, 0, 0}, {DMC_OP_SUM, 2, 2, 0, 0}};
    if (op == 1) k = (DmcKernel){.op = DMC_OP_FUSED, .axis = 0, .len = N, .out = {0, {0}, 1, 0}, .nin = 2,
                                 .in = {shape1(N, 1), shape1(N, 0)}, .nstep = 2, .step = prog};
    if (op == 2) k = (DmcKernel){.op = DMC_OP_SUM_TO, .out = {0, {0}, 1, 0}, .nin = 1, .in = {shape1(N, 1)}};
    memset(y, 0, sizeof y);
    dmc_kernel_f32(&k, NB, y, in, 0, 0);
    for (int b = 0; b < NB; b++) CU_ASSERT_EQUAL(y[b], (float)(N * (N + 1) / 2));
  }
}

/* A dropout mask computed inside a fused program (fuse.c puts it in its producer's)
 * is the DROPMASK kernel's, element for element: x * mask over a batch of [T, D]
 * examples run flat, the same after a GEMM head (one example at a time, T rows),
 * in training (about half kept, scaled by 2) and in inference (all ones). */
static void check_fused_dropout(int training) {
  enum { NB = 7, T = 300, D = 8, K = 3 };   /* T * D: several blocks an example */
  static float x[NB * T * D], a[NB * T * K], w[K * D], mask[NB * T * D], out[NB * T * D], hx[NB * T * D];
  for (int i = 0; i < NB * T * D; i++) x[i] = (float)(i % 13) - 6;
  for (int i = 0; i < NB * T * K; i++) a[i] = (float)(i % 7) - 3;
  for (int i = 0; i < K * D; i++) w[i] = (float)(i % 5) - 2;
  DmcKShape ex = {2, {T, D, 0, 0}, 1, 0, 0};
  DmcKernel dm = {.op = DMC_OP_DROPMASK, .out = ex, .nin = 1, .in = {ex}, .start = 3, .fval = 0.5};
  const void *one[1] = {x};
  dmc_kernel_f32(&dm, NB, mask, one, 99, training);
  static const DmcStep prog[2] = {{DMC_OP_DROPMASK, 0, 3, 0, 0.5}, {DMC_OP_MUL, 0, 1, 0, 0}};
  DmcKernel k = {.op = DMC_OP_FUSED, .out = ex, .nin = 1, .in = {ex}, .nstep = 2, .step = prog};
  dmc_kernel_f32(&k, NB, out, one, 99, training);
  /* the head's rows first: x = a @ w, then its mask */
  static const DmcStep hprog[3] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_DROPMASK, 2, 3, 0, 0.5}, {DMC_OP_MUL, 2, 3, 0, 0}};
  DmcKernel h = {.op = DMC_OP_FUSED, .out = ex, .nin = 2, .in = {{2, {T, K, 0, 0}, 1, 0}, {2, {K, D, 0, 0}, 0, 0}},
                 .nstep = 3, .step = hprog};
  const void *hin[2] = {a, w};
  dmc_kernel_f32(&h, NB, hx, hin, 99, training);
  int bad = 0, kept = 0;
  for (int i = 0; i < NB * T * D; i++) {
    bad += out[i] != x[i] * mask[i];
    kept += mask[i] != 0;
    bad += training ? mask[i] != 0 && mask[i] != 2 : mask[i] != 1;
  }
  for (int b = 0; b < NB; b++)
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++) {
        float acc = 0;
        for (int p = 0; p < K; p++) acc += a[(b * T + t) * K + p] * w[p * D + d];
        int i = (b * T + t) * D + d;
        bad += hx[i] != acc * mask[i];
      }
  CU_ASSERT_EQUAL(bad, 0);
  if (training) CU_ASSERT(kept > NB * T * D * 45 / 100 && kept < NB * T * D * 55 / 100);
}

static void test_fused_dropout(void) {
  check_fused_dropout(1);
  check_fused_dropout(0);
}

void add_kernel_tests(void) {
  CU_pSuite s = CU_add_suite("float kernels: exp, sigmoid, GEMM tiles", NULL, NULL);
  CU_add_test(s, "exp and sigmoid within a few ulps of libm", test_exp_and_sigmoid);
  CU_add_test(s, "tanh within a few ulps of libm", test_tanh);
  CU_add_test(s, "GEMM tiles against a triple loop", test_gemm_tiles);
  CU_add_test(s, "matmul_tn (weight gradients) against a triple loop", test_matmul_tn);
  CU_add_test(s, "matmul_nt (input gradients) against a triple loop", test_matmul_nt);
  CU_add_test(s, "K_(gemm) on every path: accumulate, strided C, transposed A and W", test_gemm_direct);
  CU_add_test(s, "a one-column GEMM's rows: the same bits 16 at a time as alone", test_dot_rows_bits);
  CU_add_test(s, "broadcasting along a middle axis", test_general_broadcast);
  CU_add_test(s, "a small head over the batch", test_flat_head);
  CU_add_test(s, "a tail sum over the batch", test_flat_tail_sum);
  CU_add_test(s, "a fused program over the whole batch", test_fused_over_the_batch);
  CU_add_test(s, "operands repeating a run: tiled, or read in place", test_tiled_runs);
  CU_add_test(s, "sums in 16 lanes: every length, and the kernels that use them", test_sum_lanes);
  CU_add_test(s, "a dropout mask inside a fused program is the DROPMASK kernel's", test_fused_dropout);
}
