/* roofline.c -- this machine's ceilings, measured: peak FP32 FMA throughput
 * (AVX-512 and AVX2, 1 and N threads) and read bandwidth from L1, L2 and DRAM
 * (1 and N threads). Prints one JSON object; bench/speed.sh divides the
 * models' FLOPs and bytes by these to place each figure under its roof.
 *
 *   roofline [--threads N] [--dram-mib M]     (defaults: 2 threads, 1024 MiB)
 *
 * FMA: 16 (AVX-512) or 12 (AVX2) independent accumulator chains, enough to
 * cover the FMA latency on two ports; 2 FLOPs per lane. Bandwidth: sums of
 * vector loads (the widest the CPU has) over a buffer that fits the level (L1
 * 16 KiB, L2 1 MiB, L3 32 MiB per thread: past any L2, within a shared L3 of
 * 64 MiB or more) or one far larger than the last-level cache (DRAM, split
 * between the threads). Rates are per CPU-second of each thread (CLOCK_THREAD_CPUTIME_ID),
 * summed over the threads, so that time the scheduler gives to other processes
 * on a shared machine does not lower the ceiling; each figure is the best of 15
 * short runs: a ceiling, not a typical value. A width the CPU lacks is null.
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile float sink, seed = 1.0f;   /* seed: distinct chains the compiler cannot merge */

/* FLOPs done by `iters` rounds of 16 x 16-lane FMAs. */
__attribute__((target("avx512f"))) static double fma512(long iters) {
  __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#define C(k) _mm512_set1_ps(seed + k)
  __m512 c0 = C(0), c1 = C(1), c2 = C(2), c3 = C(3), c4 = C(4), c5 = C(5), c6 = C(6), c7 = C(7);
  __m512 c8 = C(8), c9 = C(9), c10 = C(10), c11 = C(11), c12 = C(12), c13 = C(13), c14 = C(14), c15 = C(15);
#undef C
  for (long i = 0; i < iters; i++) {
    c0 = _mm512_fmadd_ps(c0, a, b), c1 = _mm512_fmadd_ps(c1, a, b);
    c2 = _mm512_fmadd_ps(c2, a, b), c3 = _mm512_fmadd_ps(c3, a, b);
    c4 = _mm512_fmadd_ps(c4, a, b), c5 = _mm512_fmadd_ps(c5, a, b);
    c6 = _mm512_fmadd_ps(c6, a, b), c7 = _mm512_fmadd_ps(c7, a, b);
    c8 = _mm512_fmadd_ps(c8, a, b), c9 = _mm512_fmadd_ps(c9, a, b);
    c10 = _mm512_fmadd_ps(c10, a, b), c11 = _mm512_fmadd_ps(c11, a, b);
    c12 = _mm512_fmadd_ps(c12, a, b), c13 = _mm512_fmadd_ps(c13, a, b);
    c14 = _mm512_fmadd_ps(c14, a, b), c15 = _mm512_fmadd_ps(c15, a, b);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                                     _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15))));
  sink = _mm512_reduce_add_ps(s);
  return (double)iters * 16 * 16 * 2;
}

/* FLOPs done by `iters` rounds of 12 x 8-lane FMAs (16 ymm registers: 12 chains + a, b). */
__attribute__((target("avx2,fma"))) static double fma256(long iters) {
  __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
#define C(k) _mm256_set1_ps(seed + k)
  __m256 c0 = C(0), c1 = C(1), c2 = C(2), c3 = C(3), c4 = C(4), c5 = C(5), c6 = C(6), c7 = C(7);
  __m256 c8 = C(8), c9 = C(9), c10 = C(10), c11 = C(11);
#undef C
  for (long i = 0; i < iters; i++) {
    c0 = _mm256_fmadd_ps(c0, a, b), c1 = _mm256_fmadd_ps(c1, a, b);
    c2 = _mm256_fmadd_ps(c2, a, b), c3 = _mm256_fmadd_ps(c3, a, b);
    c4 = _mm256_fmadd_ps(c4, a, b), c5 = _mm256_fmadd_ps(c5, a, b);
    c6 = _mm256_fmadd_ps(c6, a, b), c7 = _mm256_fmadd_ps(c7, a, b);
    c8 = _mm256_fmadd_ps(c8, a, b), c9 = _mm256_fmadd_ps(c9, a, b);
    c10 = _mm256_fmadd_ps(c10, a, b), c11 = _mm256_fmadd_ps(c11, a, b);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float v[8];
  _mm256_storeu_ps(v, s);
  sink = v[0] + v[7];
  return (double)iters * 12 * 8 * 2;
}

/* Bytes read by `passes` sums over buf[n] (n a multiple of 128 floats): 8 chains of
 * 16-lane adds (AVX-512) or of 8-lane adds (AVX2), two loads per cycle in flight. */
__attribute__((target("avx512f"))) static double read512(const float *buf, size_t n, long passes) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (long p = 0; p < passes; p++)
    for (size_t i = 0; i < n; i += 128) {
      s0 = _mm512_add_ps(s0, _mm512_load_ps(buf + i)), s1 = _mm512_add_ps(s1, _mm512_load_ps(buf + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_load_ps(buf + i + 32)), s3 = _mm512_add_ps(s3, _mm512_load_ps(buf + i + 48));
      s4 = _mm512_add_ps(s4, _mm512_load_ps(buf + i + 64)), s5 = _mm512_add_ps(s5, _mm512_load_ps(buf + i + 80));
      s6 = _mm512_add_ps(s6, _mm512_load_ps(buf + i + 96)), s7 = _mm512_add_ps(s7, _mm512_load_ps(buf + i + 112));
    }
  s0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)),
                     _mm512_add_ps(_mm512_add_ps(s4, s5), _mm512_add_ps(s6, s7)));
  sink = _mm512_reduce_add_ps(s0);
  return (double)passes * (double)n * sizeof(float);
}

__attribute__((target("avx2"))) static double read256(const float *buf, size_t n, long passes) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (long p = 0; p < passes; p++)
    for (size_t i = 0; i < n; i += 64) {
      s0 = _mm256_add_ps(s0, _mm256_load_ps(buf + i)), s1 = _mm256_add_ps(s1, _mm256_load_ps(buf + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_load_ps(buf + i + 16)), s3 = _mm256_add_ps(s3, _mm256_load_ps(buf + i + 24));
      s4 = _mm256_add_ps(s4, _mm256_load_ps(buf + i + 32)), s5 = _mm256_add_ps(s5, _mm256_load_ps(buf + i + 40));
      s6 = _mm256_add_ps(s6, _mm256_load_ps(buf + i + 48)), s7 = _mm256_add_ps(s7, _mm256_load_ps(buf + i + 56));
    }
  s0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                     _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7)));
  float v[8];
  _mm256_storeu_ps(v, s0);
  sink = v[0];
  return (double)passes * (double)n * sizeof(float);
}

static int has512;

static double read_sum(const float *buf, size_t n, long passes) {
  return has512 ? read512(buf, n, passes) : read256(buf, n, passes);
}

typedef enum { K_FMA512, K_FMA256, K_READ } Kind;

typedef struct {
  Kind kind;
  long reps;               /* iterations (FMA) or passes (read) */
  const float *buf;
  size_t n;
  pthread_barrier_t *go;
  double work;             /* FLOPs or bytes */
  double secs;             /* CPU seconds the thread spent on it */
} Job;

static void *run_job(void *arg) {
  Job *j = arg;
  pthread_barrier_wait(j->go);
  double t0 = cpu_now();
  j->work = j->kind == K_FMA512 ? fma512(j->reps) : j->kind == K_FMA256 ? fma256(j->reps)
                                                  : read_sum(j->buf, j->n, j->reps);
  j->secs = cpu_now() - t0;
  return NULL;
}

/* Best rate (work per CPU-second, summed over the threads) of 15 runs of nt threads. */
static double best_rate(Job *jobs, int nt) {
  double best = 0;
  pthread_t th[64];
  for (int run = 0; run < 15; run++) {
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)nt + 1);
    for (int t = 0; t < nt; t++) {
      jobs[t].go = &go;
      if (pthread_create(&th[t], NULL, run_job, &jobs[t])) {
        fprintf(stderr, "roofline: cannot start thread %d\n", t);
        exit(1);
      }
    }
    pthread_barrier_wait(&go);
    double rate = 0;
    for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < nt; t++) rate += jobs[t].work / jobs[t].secs;
    pthread_barrier_destroy(&go);
    if (rate > best) best = rate;
  }
  return best;
}

/* Per-thread rounds so one run takes about `secs`, from a short trial. */
static long calibrate(Kind kind, const float *buf, size_t n, double secs) {
  Job j = {kind, 1, buf, n, NULL, 0, 0};
  for (;;) {
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 1);
    j.go = &go;
    run_job(&j);
    pthread_barrier_destroy(&go);
    if (j.secs > 0.01) return (long)((double)j.reps * secs / j.secs) + 1;
    j.reps *= 4;
  }
}

static float *buffer(size_t bytes) {
  float *b = aligned_alloc(64, bytes);
  if (!b) {
    fprintf(stderr, "roofline: out of memory for %zu bytes\n", bytes);
    exit(1);
  }
  for (size_t i = 0; i < bytes / sizeof(float); i++) b[i] = 1e-3f * (float)(i & 1023);
  return b;
}

static void print_rate(const char *key, double v, const char *sep) {
  if (v > 0) printf("    \"%s\": %.1f%s\n", key, v / 1e9, sep);
  else printf("    \"%s\": null%s\n", key, sep);
}

int main(int argc, char **argv) {
  int nt = 2;
  long dram_mib = 1024;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) nt = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--dram-mib") && i + 1 < argc) dram_mib = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: roofline [--threads N] [--dram-mib M]\n");
      return 2;
    }
  }
  if (nt < 1 || nt > 64 || dram_mib < 16) {
    fprintf(stderr, "roofline: --threads in 1..64, --dram-mib at least 16\n");
    return 2;
  }
  __builtin_cpu_init();
  has512 = __builtin_cpu_supports("avx512f");
  int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!has2) {
    fprintf(stderr, "roofline: needs AVX2 and FMA\n");
    return 1;
  }
  int counts[2] = {1, nt};
  int ncounts = nt > 1 ? 2 : 1;
  Job jobs[64];
  size_t l1 = 16 << 10, l2 = 1 << 20, l3 = 32 << 20, dram = (size_t)dram_mib << 20;
  float *small[64], *mid[64], *big = buffer(dram);
  for (int t = 0; t < nt; t++) small[t] = buffer(l2), mid[t] = buffer(l3);

  printf("{\n");
  for (int c = 0; c < ncounts; c++) {
    int n = counts[c];
    double r512 = 0, r256, rl1, rl2, rl3, rdram;
    if (has512) {
      long it = calibrate(K_FMA512, NULL, 0, 0.05);
      for (int t = 0; t < n; t++) jobs[t] = (Job){K_FMA512, it, NULL, 0, NULL, 0, 0};
      r512 = best_rate(jobs, n);
    }
    long it = calibrate(K_FMA256, NULL, 0, 0.05);
    for (int t = 0; t < n; t++) jobs[t] = (Job){K_FMA256, it, NULL, 0, NULL, 0, 0};
    r256 = best_rate(jobs, n);
    long p1 = calibrate(K_READ, small[0], l1 / 4, 0.05), p2 = calibrate(K_READ, small[0], l2 / 4, 0.05);
    long p3 = calibrate(K_READ, mid[0], l3 / 4, 0.05);
    for (int t = 0; t < n; t++) jobs[t] = (Job){K_READ, p1, small[t], l1 / 4, NULL, 0, 0};
    rl1 = best_rate(jobs, n);
    for (int t = 0; t < n; t++) jobs[t] = (Job){K_READ, p2, small[t], l2 / 4, NULL, 0, 0};
    rl2 = best_rate(jobs, n);
    for (int t = 0; t < n; t++) jobs[t] = (Job){K_READ, p3, mid[t], l3 / 4, NULL, 0, 0};
    rl3 = best_rate(jobs, n);
    size_t share = dram / 4 / (size_t)n / 128 * 128;
    for (int t = 0; t < n; t++) jobs[t] = (Job){K_READ, 2, big + (size_t)t * share, share, NULL, 0, 0};
    rdram = best_rate(jobs, n);
    printf("  \"threads_%d\": {\n", n);
    print_rate("fma_avx512_gflops", r512, ",");
    print_rate("fma_avx2_gflops", r256, ",");
    print_rate("read_l1_gbs", rl1, ",");
    print_rate("read_l2_gbs", rl2, ",");
    print_rate("read_l3_gbs", rl3, ",");
    print_rate("read_dram_gbs", rdram, "");
    printf("  },\n");
  }
  printf("  \"threads\": %d, \"l1_kib\": %zu, \"l2_kib\": %zu, \"l3_kib\": %zu, \"dram_mib\": %ld\n}\n", nt,
         l1 >> 10, l2 >> 10, l3 >> 10, dram_mib);
  for (int t = 0; t < nt; t++) free(small[t]), free(mid[t]);
  free(big);
  return 0;
}
