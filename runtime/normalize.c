/* normalize.c -- Welford running mean/variance and z-scores (see normalize.h).
 *
 * Saved form, little-endian: "DMCN", u32 version 1, u32 ncols, then per
 * column u64 n, f64 mean, f64 m2 (sum of squared deviations).
 */
#include "normalize.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_VERSION 1
#define NORM_HEAD 12
#define NORM_COL 24
#define NORM_MIN_STD 1e-6

typedef struct Stat {
  uint64_t n;
  double mean, m2;
} Stat;

struct RtNorm {
  int ncols;
  Stat *s; /* [ncols] */
};

RtNorm *rt_norm_new(int ncols) {
  assert(ncols >= 1);
  RtNorm *z = malloc(sizeof *z);
  if (!z) return NULL;
  z->ncols = ncols;
  if (!(z->s = calloc((size_t)ncols, sizeof *z->s))) {
    free(z);
    return NULL;
  }
  return z;
}

int rt_norm_ncols(const RtNorm *z) { return z->ncols; }

void rt_norm_add(RtNorm *z, int col, double x) {
  assert(col >= 0 && col < z->ncols);
  if (!isfinite(x)) return;
  Stat *s = &z->s[col];
  s->n++;
  double d = x - s->mean;
  s->mean += d / (double)s->n;
  s->m2 += d * (x - s->mean);
}

uint64_t rt_norm_n(const RtNorm *z, int col) {
  assert(col >= 0 && col < z->ncols);
  return z->s[col].n;
}

double rt_norm_mean(const RtNorm *z, int col) {
  assert(col >= 0 && col < z->ncols);
  return z->s[col].mean;
}

double rt_norm_std(const RtNorm *z, int col) {
  assert(col >= 0 && col < z->ncols);
  const Stat *s = &z->s[col];
  return s->n ? sqrt(s->m2 / (double)s->n) : 0.0;
}

float rt_norm_apply(const RtNorm *z, int col, double x) {
  double sd = rt_norm_std(z, col);
  double y = x - z->s[col].mean;
  return (float)(sd < NORM_MIN_STD ? y : y / sd);
}

static void put64(uint8_t *p, uint64_t x) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t get64(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}

static void putf64(uint8_t *p, double d) {
  uint64_t x;
  memcpy(&x, &d, 8);
  put64(p, x);
}

static double getf64(const uint8_t *p) {
  uint64_t x = get64(p);
  double d;
  memcpy(&d, &x, 8);
  return d;
}

size_t rt_norm_save(const RtNorm *z, uint8_t *buf, size_t cap) {
  size_t need = NORM_HEAD + NORM_COL * (size_t)z->ncols;
  if (cap < need) return need;
  memcpy(buf, "DMCN", 4);
  put64(buf + 4, NORM_VERSION | (uint64_t)z->ncols << 32);
  for (int i = 0; i < z->ncols; i++) {
    uint8_t *p = buf + NORM_HEAD + NORM_COL * (size_t)i;
    put64(p, z->s[i].n);
    putf64(p + 8, z->s[i].mean);
    putf64(p + 16, z->s[i].m2);
  }
  return need;
}

RtNorm *rt_norm_load(const uint8_t *buf, size_t n, RtError *err) {
  if (n < NORM_HEAD || memcmp(buf, "DMCN", 4) != 0) {
    rt_error(err, "normalizer blob: not dmc normalisation statistics "
             "(bad magic or too short)");
    return NULL;
  }
  uint64_t w = get64(buf + 4);
  uint32_t version = (uint32_t)w, ncols = (uint32_t)(w >> 32);
  if (version != NORM_VERSION) {
    rt_error(err, "normalizer blob: version %u, expected %u", version, NORM_VERSION);
    return NULL;
  }
  if (ncols < 1 || ncols > (uint32_t)INT32_MAX || n != NORM_HEAD + NORM_COL * (size_t)ncols) {
    rt_error(err, "normalizer blob: %u columns do not fit %zu bytes", ncols, n);
    return NULL;
  }
  RtNorm *z = rt_norm_new((int)ncols);
  if (!z) {
    rt_error(err, "normalizer blob: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < ncols; i++) {
    const uint8_t *p = buf + NORM_HEAD + NORM_COL * (size_t)i;
    z->s[i].n = get64(p);
    z->s[i].mean = getf64(p + 8);
    z->s[i].m2 = getf64(p + 16);
  }
  return z;
}

void rt_norm_free(RtNorm *z) {
  if (!z) return;
  free(z->s);
  free(z);
}
