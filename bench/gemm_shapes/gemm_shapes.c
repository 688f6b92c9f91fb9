/* gemm_shapes.c -- times the kernels whose GEMMs have small and odd shapes: DIN's
 * attention MLP (128 -> 80 -> 40 -> 1 over 50 history rows an example, so 12800
 * rows at the training batch of 256 and 51200 at inference's 1024; the first layer
 * also as the program runs it, K = 64 after split_matmul, "add add"), forward heads
 * with their bias and sigmoid, backward matmul_nt heads with the sigmoid gradient,
 * plain GEMMs of the same shapes without the epilogue, and the weight gradients
 * (matmul_tn over every row), the forward heads again at batch 1024 (I) and 1 (L,
 * latency); then criteo_deepfm's 400-wide layers, the main GEMM
 * case, so a change for small shapes is seen not to slow the large one. The kernel
 * descriptors are the ones `dmc bench/models/din.model --emit=c` prints. Each line
 * is the best of 7 runs of 0.15 s of this thread's CPU time (so time the scheduler
 * gives to other processes is not counted), in ms per call and GFLOP/s (2 M N K over the
 * time); the sum of the output is there to compare builds.
 *
 *   cc -O2 -std=c11 -iquote runtime -Icompiler bench/gemm_shapes/gemm_shapes.c \
 *      build/libdmcrt.a -lm -o /tmp/gemm_shapes
 *   /tmp/gemm_shapes [W offset in floats, default 16] [only the lines containing TEXT]
 *
 * Parameters sit at 16-float offsets in a program; an offset of 5 shows W's rows
 * straddling cache lines. One thread; on a shared machine compare builds by
 * alternating them. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels.h"
#define Z {0, {0, 0, 0, 0}, 0, 0}
#define ZS Z, Z, Z, Z, Z, Z, Z, Z
static const DmcStep s23[3] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_ADD, 3, 2, 0, 0}, {DMC_OP_SIGMOID, 4, 4, 0, 0}};
static const DmcStep s32[2] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_ADD, 3, 2, 0, 0}};
static const DmcStep s126[4] = {{DMC_OP_MATMUL_NT, 0, 1, 0, 0}, {DMC_OP_SUB, 2, 3, 0, 0}, {DMC_OP_MUL, 3, 5, 0, 0}, {DMC_OP_MUL, 4, 6, 0, 0}};
/* the first layer as split_matmul leaves it: the steps' [k, q * k] columns (64), then
 * its bias and the query's share, one [80] an example (operand 2, batched) */
static const DmcStep s30[4] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_ADD, 4, 2, 0, 0}, {DMC_OP_ADD, 5, 3, 0, 0}, {DMC_OP_SIGMOID, 6, 6, 0, 0}};
static const DmcKernel k30 = {DMC_OP_FUSED, {2, {50, 80, 0, 0}, 1, 0}, 4, {{2, {50, 64, 0, 0}, 1, 0}, {2, {64, 80, 0, 0}, 0, 0}, {1, {80, 0, 0, 0}, 1, 0}, {1, {80, 0, 0, 0}, 0, 0}, ZS}, 0, 0, 0, 0, 4, s30, 0};
static const DmcKernel m30 = {DMC_OP_MATMUL, {2, {50, 80, 0, 0}, 1, 0}, 2, {{2, {50, 64, 0, 0}, 1, 0}, {2, {64, 80, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel k23 = {DMC_OP_FUSED, {2, {50, 80, 0, 0}, 1, 0}, 3, {{2, {50, 128, 0, 0}, 1, 0}, {2, {128, 80, 0, 0}, 0, 0}, {1, {80, 0, 0, 0}, 0, 0}, Z, ZS}, 0, 0, 0, 0, 3, s23, 0};
static const DmcKernel k28 = {DMC_OP_FUSED, {2, {50, 40, 0, 0}, 1, 0}, 3, {{2, {50, 80, 0, 0}, 1, 0}, {2, {80, 40, 0, 0}, 0, 0}, {1, {40, 0, 0, 0}, 0, 0}, Z, ZS}, 0, 0, 0, 0, 3, s23, 0};
static const DmcKernel k32 = {DMC_OP_FUSED, {2, {50, 1, 0, 0}, 1, 0}, 3, {{2, {50, 40, 0, 0}, 1, 0}, {2, {40, 1, 0, 0}, 0, 0}, {1, {1, 0, 0, 0}, 0, 0}, Z, ZS}, 0, 0, 0, 0, 2, s32, 0};
static const DmcKernel k126 = {DMC_OP_FUSED, {2, {50, 40, 0, 0}, 1, 0}, 4, {{2, {50, 1, 0, 0}, 1, 0}, {2, {40, 1, 0, 0}, 0, 0}, Z, {2, {50, 40, 0, 0}, 1, 0}, ZS}, 0, 0, 0, 0, 4, s126, 0};
static const DmcKernel k132 = {DMC_OP_FUSED, {2, {50, 80, 0, 0}, 1, 0}, 4, {{2, {50, 40, 0, 0}, 1, 0}, {2, {80, 40, 0, 0}, 0, 0}, Z, {2, {50, 80, 0, 0}, 1, 0}, ZS}, 0, 0, 0, 0, 4, s126, 0};
static const DmcKernel k129 = {DMC_OP_MATMUL_TN, {2, {80, 40, 0, 0}, 0, 0}, 2, {{2, {50, 80, 0, 0}, 1, 0}, {2, {50, 40, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel k134 = {DMC_OP_MATMUL_NT, {2, {50, 128, 0, 0}, 1, 0}, 2, {{2, {50, 80, 0, 0}, 1, 0}, {2, {128, 80, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel k135 = {DMC_OP_MATMUL_TN, {2, {128, 80, 0, 0}, 0, 0}, 2, {{2, {50, 128, 0, 0}, 1, 0}, {2, {50, 80, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel k123 = {DMC_OP_MATMUL_TN, {2, {40, 1, 0, 0}, 0, 0}, 2, {{2, {50, 40, 0, 0}, 1, 0}, {2, {50, 1, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
/* plain GEMMs of the heads, without the epilogue */
static const DmcKernel m23 = {DMC_OP_MATMUL, {2, {50, 80, 0, 0}, 1, 0}, 2, {{2, {50, 128, 0, 0}, 1, 0}, {2, {128, 80, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel m28 = {DMC_OP_MATMUL, {2, {50, 40, 0, 0}, 1, 0}, 2, {{2, {50, 80, 0, 0}, 1, 0}, {2, {80, 40, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel m132 = {DMC_OP_MATMUL_NT, {2, {50, 80, 0, 0}, 1, 0}, 2, {{2, {50, 40, 0, 0}, 1, 0}, {2, {80, 40, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel m126 = {DMC_OP_MATMUL_NT, {2, {50, 40, 0, 0}, 1, 0}, 2, {{2, {50, 1, 0, 0}, 1, 0}, {2, {40, 1, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel dm400 = {DMC_OP_MATMUL, {1, {400, 0, 0, 0}, 1, 0}, 2, {{1, {400, 0, 0, 0}, 1, 0}, {2, {400, 400, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel dnt400 = {DMC_OP_MATMUL_NT, {1, {400, 0, 0, 0}, 1, 0}, 2, {{1, {400, 0, 0, 0}, 1, 0}, {2, {400, 400, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel dtn400 = {DMC_OP_MATMUL_TN, {2, {400, 400, 0, 0}, 0, 0}, 2, {{1, {400, 0, 0, 0}, 1, 0}, {1, {400, 0, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
/* the first layer's (429 inputs): its input gradient and its weight gradient */
static const DmcKernel dnt429 = {DMC_OP_MATMUL_NT, {1, {429, 0, 0, 0}, 1, 0}, 2, {{1, {400, 0, 0, 0}, 1, 0}, {2, {429, 400, 0, 0}, 0, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};
static const DmcKernel dtn429 = {DMC_OP_MATMUL_TN, {2, {429, 400, 0, 0}, 0, 0}, 2, {{1, {429, 0, 0, 0}, 1, 0}, {1, {400, 0, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};

/* criteo_deepfm's hidden layer as fused: matmul, bias, relu, its pre-activation
 * stored for the backward (buffer 3); and its backward: dY W^T times step(Z) */
static const DmcStep srelu[3] = {{DMC_OP_MATMUL, 0, 1, 0, 0}, {DMC_OP_ADD, 3, 2, 3, 0}, {DMC_OP_RELU, 4, 4, 0, 0}};
static const DmcStep sdrelu[3] = {{DMC_OP_MATMUL_NT, 0, 1, 0, 0}, {DMC_OP_STEP, 2, 2, 0, 0}, {DMC_OP_MUL, 3, 4, 0, 0}};
static const DmcKernel fr400 = {DMC_OP_FUSED, {1, {400, 0, 0, 0}, 1, 0}, 3, {{1, {400, 0, 0, 0}, 1, 0}, {2, {400, 400, 0, 0}, 0, 0}, {1, {400, 0, 0, 0}, 0, 0}, Z, ZS}, 0, 0, 0, 0, 3, srelu, 0};
static const DmcKernel fdr400 = {DMC_OP_FUSED, {1, {400, 0, 0, 0}, 1, 0}, 3, {{1, {400, 0, 0, 0}, 1, 0}, {2, {400, 400, 0, 0}, 0, 0}, {1, {400, 0, 0, 0}, 1, 0}, Z, ZS}, 0, 0, 0, 0, 3, sdrelu, 0};

/* ex:afm's attention weight gradient: [16, 8] over 15 pairs an example */
static const DmcKernel afm_tn = {DMC_OP_MATMUL_TN, {2, {16, 8, 0, 0}, 0, 0}, 2, {{2, {15, 16, 0, 0}, 1, 0}, {2, {15, 8, 0, 0}, 1, 0}, Z, Z, ZS}, 0, 0, 0, 0, 0, NULL, 0};

static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float *buf(size_t n, int seed) {
  float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64 + 64);
  for (size_t i = 0; i < n; i++) p[i] = (float)((int)((i + seed) * 37 % 101) - 50) / 100;
  return p;
}
static size_t numel(const DmcKShape *s, int B) { size_t n = 1; for (int i = 0; i < s->rank; i++) n *= s->dim[i]; return n * (s->batched ? B : 1); }
static void run(const char *name, const DmcKernel *k, int B, double flop, int off) {
  const void *in[12]; float *ins[12];
  for (int j = 0; j < k->nin; j++) { ins[j] = buf(numel(&k->in[j], B) + 16, j) + (k->in[j].batched ? 0 : off); in[j] = ins[j]; }
  for (int s = 0; s < k->nstep; s++)   /* a stored step's buffer, after the operands, in the output's shape */
    if (k->step[s].store) in[k->step[s].store] = buf(numel(&k->out, B), 10 + s);
  float *out = buf(numel(&k->out, B), 9);
  dmc_kernel_f32(k, B, out, in, 0, 1);
  double best = 1e9;
  for (int rep = 0; rep < 7; rep++) {
    int it = 0; double t0 = now(), t;
    do { dmc_kernel_f32(k, B, out, in, 0, 1); it++; } while ((t = now() - t0) < 0.15);
    if (t / it < best) best = t / it;
  }
  double cs = 0; for (size_t i = 0; i < numel(&k->out, B); i++) cs += out[i];
  printf("%-34s B=%-5d %8.4f ms  %6.1f GFLOP/s  (sum %.6g)\n", name, B, best * 1e3, flop / best * 1e-9, cs);
}
int main(int argc, char **argv) {
  int off = argc > 1 ? atoi(argv[1]) : 16;
  int B = 256, R = B * 50;
  const char *only = argc > 2 ? argv[2] : "";
#define RUN(n, k, b, f) if (!*only || strstr(n, only)) run(n, k, b, f, off)
  RUN("fused nt sub mul mul [50,80] K=40", &k132, B, 2.0 * R * 80 * 40);
  RUN("matmul_nt [50,80] K=40", &m132, B, 2.0 * R * 80 * 40);
  RUN("fused nt sub mul mul [50,40] K=1", &k126, B, 2.0 * R * 40 * 1);
  RUN("matmul_nt [50,40] K=1", &m126, B, 2.0 * R * 40 * 1);
  RUN("fused mm add add sigm [50,80] K=64", &k30, B, 2.0 * R * 80 * 64);
  RUN("matmul [50,80] K=64", &m30, B, 2.0 * R * 80 * 64);
  RUN("fused mm add sigm [50,80] K=128", &k23, B, 2.0 * R * 80 * 128);
  RUN("matmul [50,80] K=128", &m23, B, 2.0 * R * 80 * 128);
  RUN("fused mm add sigm [50,40] K=80", &k28, B, 2.0 * R * 40 * 80);
  RUN("matmul [50,40] K=80", &m28, B, 2.0 * R * 40 * 80);
  RUN("fused mm add [50,1] K=40", &k32, B, 2.0 * R * 1 * 40);
  RUN("matmul_nt [50,128] K=80", &k134, B, 2.0 * R * 128 * 80);
  RUN("matmul_tn [128,80]", &k135, B, 2.0 * R * 128 * 80);
  RUN("matmul_tn [80,40]", &k129, B, 2.0 * R * 80 * 40);
  RUN("matmul_tn [40,1]", &k123, B, 2.0 * R * 40 * 1);
  RUN("I fused mm add add sigm [50,80] K=64", &k30, 1024, 2.0 * 51200 * 80 * 64);
  RUN("I fused mm add sigm [50,80] K=128", &k23, 1024, 2.0 * 51200 * 80 * 128);
  RUN("I fused mm add sigm [50,40] K=80", &k28, 1024, 2.0 * 51200 * 40 * 80);
  RUN("I fused mm add [50,1] K=40", &k32, 1024, 2.0 * 51200 * 1 * 40);
  RUN("L fused mm add add sigm [50,80] K=64", &k30, 1, 2.0 * 50 * 80 * 64);
  RUN("L fused mm add sigm [50,80] K=128", &k23, 1, 2.0 * 50 * 80 * 128);
  RUN("L fused mm add sigm [50,40] K=80", &k28, 1, 2.0 * 50 * 40 * 80);
  RUN("L fused mm add [50,1] K=40", &k32, 1, 2.0 * 50 * 1 * 40);
  RUN("deepfm matmul 256x400x400", &dm400, 256, 2.0 * 256 * 400 * 400);
  RUN("deepfm matmul_nt 256x400x400", &dnt400, 256, 2.0 * 256 * 400 * 400);
  RUN("deepfm matmul_tn 400x400 over 256", &dtn400, 256, 2.0 * 256 * 400 * 400);
  RUN("deepfm matmul 1x400x400", &dm400, 1, 2.0 * 1 * 400 * 400);
  RUN("deepfm matmul_nt 256x429x400", &dnt429, 256, 2.0 * 256 * 429 * 400);
  RUN("deepfm matmul_tn 429x400 over 256", &dtn429, 256, 2.0 * 256 * 429 * 400);
  RUN("afm matmul_tn [16,8] over 3840", &afm_tn, 256, 2.0 * 3840 * 16 * 8);
  RUN("deepfm fused mm add relu 256x400x400", &fr400, 256, 2.0 * 256 * 400 * 400);
  RUN("deepfm fused nt step mul 256x400x400", &fdr400, 256, 2.0 * 256 * 400 * 400);
  RUN("I deepfm matmul 1024x400x400", &dm400, 1024, 2.0 * 1024 * 400 * 400);
  RUN("I deepfm fused mm add relu 1024x400x400", &fr400, 1024, 2.0 * 1024 * 400 * 400);
  /* a share of two threads' training: 128 rows each */
  RUN("deepfm matmul_nt 128x400x400", &dnt400, 128, 2.0 * 128 * 400 * 400);
  RUN("deepfm matmul_tn 400x400 over 128", &dtn400, 128, 2.0 * 128 * 400 * 400);
  return 0;
}
