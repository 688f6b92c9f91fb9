// kernels_impl.h: the body of the op kernels, included with REAL (float or
// double) and KFN (the entry point's name) defined. See kernels.h.
// K_MATH(exp) is expf in float, exp in double: float kernels never round-trip
// through double math.
// Conventions: a shape excludes the batch; a batched buffer is [B, numel];
// an unbatched operand broadcasts over the batch; numpy broadcasting on
// trailing axes; reductions with a mask operand (axis 0) skip padded steps.
#include <math.h>
#include <string.h>

#include "kernels.h"

#define KSTATIC static

KSTATIC int64_t K_(numel)(const DmcKShape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->dim[i];
  return n;
}

KSTATIC const REAL *K_(real)(const void *const *in, int i) { return (const REAL *)in[i]; }

// Floats from one row of an operand's last axis to the next (DmcKShape.ld).
KSTATIC int64_t K_(ld)(const DmcKShape *s) { return s->ld ? s->ld : s->rank ? s->dim[s->rank - 1] : 1; }
// How many lookups ahead a gather asks for a row: 32 rather than 8 made
// criteo_deepfm's batch-1024 inference 4% faster and criteo_wide_deep's 1-7%, with
// DIN's and DIEN's training unchanged (alternating `PROG bench`, three rounds)
#ifndef K_GATHER_AHEAD
#define K_GATHER_AHEAD 32
#endif
KSTATIC const int32_t *K_(ids)(const void *const *in, int i) { return (const int32_t *)in[i]; }

// Offset in operand `x` of output element `flat` (per-example index) under
// numpy broadcasting of x's shape against the output's.
KSTATIC int64_t K_(bcast)(const DmcKShape *x, const DmcKShape *out, int64_t flat) {
  int64_t off = 0, stride = 1;
  for (int i = out->rank - 1, j = x->rank - 1; i >= 0; i--, j--) {
    int64_t c = flat % out->dim[i];
    flat /= out->dim[i];
    if (j >= 0) {
      if (x->dim[j] != 1) off += c * stride;
      stride *= x->dim[j];
    }
  }
  return off;
}

// How operand x repeats in the output, when it does simply: n > 0 when x is the
// output's trailing axes (element i reads x[i % n]); -m when x is the output's
// leading axes followed by ones (element i reads x[i / m]); 0 otherwise.
KSTATIC int64_t K_(run)(const DmcKShape *x, const DmcKShape *out) {
  int64_t xn = K_(numel)(x), on = K_(numel)(out);
  if (xn == on) return on;
  int off = out->rank - x->rank, suffix = 1;
  if (off < 0) return 0; /* x has more axes than the output: the general path */
  for (int i = 0; i < x->rank; i++) suffix &= x->dim[i] == out->dim[off + i];
  if (suffix) return xn;
  if (off == 0) {
    int s = 0, ones = 1;
    while (s < x->rank && x->dim[s] == out->dim[s]) s++;
    for (int i = s; i < x->rank; i++) ones &= x->dim[i] == 1;
    if (ones) return -(on / xn);
  }
  return 0;
}

#ifdef K_POLY_EXP
// kernels.c: exp as Cephes' expf polynomial (within 2 ulp of expf), no call and no
// branch, so the loops that use it (sigmoid, softmax, exp) vectorize.
KSTATIC float K_(exp)(float x) {
  x = x > 88.72f ? 88.72f : x;
  x = x < -87.33f ? -87.33f : x;
  // n = round(x / ln 2) by adding and taking away 1.5 * 2^23 (no floorf call, no branch)
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  int32_t ni = (int32_t)(n == n ? n : 0); // NaN x: p is NaN, n never converted (UB)
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    int32_t bits;
    float value;
  } scale = {(ni + 127) << 23};   // 2^n (a union, not memcpy: it vectorizes)
  return p * scale.value;
}
#else
KSTATIC REAL K_(exp)(REAL x) { return K_MATH(exp)(x); }
#endif

KSTATIC REAL K_(sigmoid)(REAL x) {   // one exp, never overflowing, one division (a select of
  REAL e = K_(exp)(-K_MATH(fabs)(x));  // two quotients became two masked divisions per vector)
  return (x >= 0 ? 1 : e) / (1 + e);
}

#ifdef K_POLY_EXP
// tanh with one exp, never overflowing, no call and no branch, so it vectorizes:
// (1 - e) / (1 + e) with e = exp(-2|x|), and near 0, where 1 - e would cancel, its
// series to x^7 (error under 4e-7 of the value for |x| < 1/4).
KSTATIC float K_(tanh)(float x) {
  float ax = fabsf(x), e = K_(exp)(-2 * ax), t = (1 - e) / (1 + e), x2 = x * x;
  float s = ax * (1 + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315))));
  t = ax < 0.25f ? s : t;
  return x >= 0 ? t : -t;
}
#else
KSTATIC REAL K_(tanh)(REAL x) { return K_MATH(tanh)(x); }
#endif

KSTATIC REAL K_(unop)(int op, REAL x) {
  switch (op) {
  case DMC_OP_NEG: return -x;
  case DMC_OP_EXP: return K_(exp)(x);
  case DMC_OP_LOG: return K_MATH(log)(x);
  case DMC_OP_SQRT: return K_MATH(sqrt)(x);
  case DMC_OP_ABS: return K_MATH(fabs)(x);
  case DMC_OP_SIGMOID: return K_(sigmoid)(x);
  case DMC_OP_TANH: return K_(tanh)(x);
  case DMC_OP_RELU: return x > 0 ? x : 0;
  case DMC_OP_STEP: return x > 0 ? 1 : 0;
  case DMC_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
  default: return x;   // STOPGRAD
  }
}

// Dropout's randomness: a mixer of 32-bit lanes (Wellons' lowbias32), keyed twice by
// the layer's stream, applied to the element's index, so that the mask loop
// vectorizes (splitmix64 through a double took about 6 ns an element, a third of
// examples/fnn's training step); the stream from (seed, layer) by splitmix64's
// finalizer, once a call.
KSTATIC uint32_t K_(mix32)(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
KSTATIC uint64_t K_(mix64)(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Elements i0..i0+n-1 of dropout layer `stream`'s mask (1 when not training): element
// i kept when the top 24 bits of its hash are below keep * 2^24 (keep in (0, 1]);
// indices past 2^32 would repeat the pattern (a batch holds fewer). A fused program
// computes its blocks of the mask, the DROPMASK kernel the whole of it: the same values.
KSTATIC void K_(dropmask)(double rate, int stream, uint64_t seed, int training, int64_t i0, int64_t n, REAL *out) {
  if (!training) {
    for (int64_t i = 0; i < n; i++) out[i] = 1;
    return;
  }
  double keep = 1 - rate;
  uint64_t layer = K_(mix64)(seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(stream + 1)));
  uint32_t k0 = (uint32_t)layer, k1 = (uint32_t)(layer >> 32), cut = (uint32_t)(keep * 16777216.0), at = (uint32_t)i0;
  REAL kept = (REAL)(1 / keep);
  for (int64_t i = 0; i < n; i++) out[i] = K_(mix32)(K_(mix32)((at + (uint32_t)i) ^ k0) + k1) >> 8 < cut ? kept : 0;
}

// Splits a shape around `axis`: outer * n * inner elements.
KSTATIC void K_(split)(const DmcKShape *s, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = 1, *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= s->dim[i];
  *n = s->dim[axis];
  for (int i = axis + 1; i < s->rank; i++) *inner *= s->dim[i];
}

#include "gemm_impl.h"

// The GEMM of a kernel: split among the threads that share one request
// when there are some (the float runtime's K_SHARED_GEMM: kernels.h's hook), else the
// GEMM above on this thread.
KSTATIC void K_(gemm_shared)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                          int64_t wrs, int64_t wcs, REAL *C, int64_t ldc, int accumulate) {
#ifdef K_SHARED_GEMM
  if (K_SHARED_GEMM(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate)) return;
#endif
  K_(gemm)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate);
}
#include "rnn_impl.h"

// DMC_OP_FUSED: the program of k->step over blocks of K_BLOCK elements of one
// example, so a chain of elementwise ops reads its operands and writes its
// result once instead of once per op. A MATMUL head is computed a few examples
// at a time, and the rest of the program runs on those rows while they are in cache.
// 512: a block's set-up (operand slots, loads, the steps' dispatch) is paid per
// block, and with 128 it was most of a short program's time (criteo_afm's
// weighted sum over [325, 16]: inference 149k -> 161-174k rows/s, training
// 31k -> 33-36k; ex:xdeepfm 1.13x; ex:din 1.08-1.18x; 1024 was no faster)
#define K_BLOCK 512
#define K_FLAT_HEAD 64   // values per example up to which a program with a head runs flat
#define K_HEAD_ROWS 256
#define K_DIRECT_RUN 64   // an operand's repeated run read in place from this length (K_(fused))
// i0: the element index of d[0] in its buffer (example b's element i is b * numel + i),
// which a dropout mask is a function of (with the call's seed)
KSTATIC void K_(step_run)(const DmcStep *st, int64_t n, REAL *d, const REAL *a, const REAL *b, int64_t i0, uint64_t seed,
                          int training) {
  switch (st->op) {
  case DMC_OP_DROPMASK: K_(dropmask)(st->val, st->b, seed, training, i0, n, d); return;   // b: its stream
  case DMC_OP_CONST: for (int64_t i = 0; i < n; i++) d[i] = (REAL)st->val; return;
  case DMC_OP_ADD: for (int64_t i = 0; i < n; i++) d[i] = a[i] + b[i]; return;
  case DMC_OP_SUB: for (int64_t i = 0; i < n; i++) d[i] = a[i] - b[i]; return;
  case DMC_OP_MUL: for (int64_t i = 0; i < n; i++) d[i] = a[i] * b[i]; return;
  case DMC_OP_DIV: for (int64_t i = 0; i < n; i++) d[i] = a[i] / b[i]; return;
  case DMC_OP_MAX: for (int64_t i = 0; i < n; i++) d[i] = a[i] > b[i] ? a[i] : b[i]; return;
  case DMC_OP_MIN: for (int64_t i = 0; i < n; i++) d[i] = a[i] < b[i] ? a[i] : b[i]; return;
  case DMC_OP_GE: for (int64_t i = 0; i < n; i++) d[i] = a[i] >= b[i] ? (REAL)1 : (REAL)0; return;
  case DMC_OP_RELU: for (int64_t i = 0; i < n; i++) d[i] = a[i] > 0 ? a[i] : 0; return;
  case DMC_OP_STEP: for (int64_t i = 0; i < n; i++) d[i] = a[i] > 0 ? 1 : 0; return;
  case DMC_OP_NEG: for (int64_t i = 0; i < n; i++) d[i] = -a[i]; return;
  case DMC_OP_STOPGRAD: memcpy(d, a, sizeof(REAL) * (size_t)n); return;   // also a broadcast expand
  case DMC_OP_SIGMOID: for (int64_t i = 0; i < n; i++) d[i] = K_(sigmoid)(a[i]); return;
  case DMC_OP_EXP: for (int64_t i = 0; i < n; i++) d[i] = K_(exp)(a[i]); return;
  case DMC_OP_TANH: for (int64_t i = 0; i < n; i++) d[i] = K_(tanh)(a[i]); return;
  default: for (int64_t i = 0; i < n; i++) d[i] = K_(unop)(st->op, a[i]); return;
  }
}

// y[0..n) += v[0..n): a tail sum's row (restrict: the values are never the sums)
KSTATIC void K_(add_into)(REAL *restrict y, const REAL *restrict v, int64_t n) {
  for (int64_t j = 0; j < n; j++) y[j] += v[j];
}

// y[0..inner) += each of v's rows (ld apart) whose mask entry is not 0 (no mask:
// every row), in row order. Rows of 1-8 whole vectors keep their sums in registers
// across the rows: a row at a time loads and stores y for every row (criteo_fm's
// sums over 26 fields of 16; DIEN's bias gradients, [96] over 12800 rows: 2% of a
// training step). The same adds in the same order.
static inline void K_(rows_into)(REAL *restrict y, const REAL *restrict v, int64_t rows, int64_t inner, int64_t ld,
                                 const REAL *mask) {
  if (inner % K_LANES || inner > 8 * K_LANES) {
    for (int64_t t = 0; t < rows; t++)
      if (!mask || mask[t] != 0) K_(add_into)(y, v + t * ld, inner);
    return;
  }
  int nv = (int)(inner / K_LANES);
  K_(vec) acc[8];
  for (int c = 0; c < nv; c++) acc[c] = *(const K_(uvec) *)(y + c * K_LANES);
  for (int64_t t = 0; t < rows; t++)
    if (!mask || mask[t] != 0)
      for (int c = 0; c < nv; c++) acc[c] += *(const K_(uvec) *)(v + t * ld + c * K_LANES);
  for (int c = 0; c < nv; c++) *(K_(uvec) *)(y + c * K_LANES) = acc[c];
}

// x[0] + .. + x[n-1] in 16 independent partial sums (lane j adds x[j], x[j + 16], ..),
// then the lanes in order: a serial sum waits for each add (4 cycles) and cannot be
// vectorised, so a dot product of 429 values took about 0.5 us. A different order
// of the same adds, so a result differs from the serial one by rounding only.
#define K_SUM_LANES 16
KSTATIC REAL K_(sum_run)(const REAL *restrict x, int64_t n) {
  if (n < 2 * K_SUM_LANES) {   // short runs ([B, 325, 16] summed over its 16): serial
    REAL acc = 0;
    for (int64_t i = 0; i < n; i++) acc += x[i];
    return acc;
  }
  REAL lane[K_SUM_LANES] = {0}, acc = 0;
  int64_t i = 0;
  for (; i + K_SUM_LANES <= n; i += K_SUM_LANES)
    for (int j = 0; j < K_SUM_LANES; j++) lane[j] += x[i + j];
  for (int j = 0; j < K_SUM_LANES; j++) acc += lane[j];
  for (; i < n; i++) acc += x[i];
  return acc;
}

// y = softmax(x) over a row of n: the max in K_SUM_LANES lanes (exact in any order;
// a serial max waited on each compare: 3% of AFM's inference), the exponentials in
// a loop that vectorizes, their sum in K_(sum_run)'s lanes (a serial sum and a
// scalar exp per element took 3 ns an element: AFM's [325] attention, 1 us a request).
static inline void K_(softmax_row)(const REAL *restrict x, REAL *restrict y, int64_t n) {
  REAL mx = -INFINITY, lane[K_SUM_LANES];
  int64_t t = 0;
  if (n >= 2 * K_SUM_LANES) {
    for (int j = 0; j < K_SUM_LANES; j++) lane[j] = -INFINITY;
    for (; t + K_SUM_LANES <= n; t += K_SUM_LANES)
      for (int j = 0; j < K_SUM_LANES; j++) lane[j] = x[t + j] > lane[j] ? x[t + j] : lane[j];
    for (int j = 0; j < K_SUM_LANES; j++) mx = lane[j] > mx ? lane[j] : mx;
  }
  for (; t < n; t++) mx = x[t] > mx ? x[t] : mx;
  for (t = 0; t < n; t++) y[t] = K_(exp)(x[t] - mx);
  REAL sum = K_(sum_run)(y, n);
  for (t = 0; t < n; t++) y[t] = sum > 0 ? y[t] / sum : 0;
}

// x . y over n values in K_SUM_LANES lanes (K_(sum_run)'s order; serial when short)
KSTATIC REAL K_(dot_run)(const REAL *restrict x, const REAL *restrict y, int64_t n) {
  REAL lane[K_SUM_LANES] = {0}, acc = 0;
  int64_t i = 0;
  if (n >= 2 * K_SUM_LANES) {
    for (; i + K_SUM_LANES <= n; i += K_SUM_LANES)
      for (int j = 0; j < K_SUM_LANES; j++) lane[j] += x[i + j] * y[i + j];
    for (int j = 0; j < K_SUM_LANES; j++) acc += lane[j];
  }
  for (; i < n; i++) acc += x[i] * y[i];
  return acc;
}

// dx = y * (dy - <y, dy>) over a row of n
static inline void K_(softmax_grad_row)(const REAL *y, const REAL *dy, REAL *dx, int64_t n) {
  REAL dot = K_(dot_run)(y, dy, n);
  for (int64_t t = 0; t < n; t++) dx[t] = y[t] * (dy[t] - dot);
}

// d[0..n) = s[0..n) without a memcpy call for short runs (the call costs more than
// copying a few floats): two fixed-size copies that overlap, inlined.
static inline void K_(copy)(REAL *restrict d, const REAL *restrict s, int64_t n) {
  if (n > 16) memcpy(d, s, sizeof(REAL) * (size_t)n);
  else if (n >= 8) memcpy(d, s, 8 * sizeof(REAL)), memcpy(d + n - 8, s + n - 8, 8 * sizeof(REAL));
  else if (n >= 4) memcpy(d, s, 4 * sizeof(REAL)), memcpy(d + n - 4, s + n - 4, 4 * sizeof(REAL));
  else if (n >= 2) memcpy(d, s, 2 * sizeof(REAL)), memcpy(d + n - 2, s + n - 2, 2 * sizeof(REAL));
  else if (n == 1) d[0] = s[0];
}

// Asks for the lines of the table row that a lookup K_GATHER_STEP_AHEAD rows on
// reads (row r of `rows` in the batch): the rows are at random, the table in cache
// (fuse.c) but not in L1 or L2, and a row asked for only as it is read waits on each
// line (a sampled softmax's 500 rows of 64 an example from a table in L3: 1.19 ->
// 0.59 ms a batch of 512, in a loop of dot products).
#define K_GATHER_STEP_AHEAD 8
static inline void K_(ask_row)(const REAL *t, const int32_t *ids, int64_t r, int64_t rows, int64_t D) {
  if (r + K_GATHER_STEP_AHEAD >= rows) return;
  const REAL *ahead = t + (int64_t)ids[r + K_GATHER_STEP_AHEAD] * D;   // a prefetch cannot fault
  for (int64_t q = 0; q < D; q += 64 / (int64_t)sizeof(REAL)) __builtin_prefetch(ahead + q);
}

// Row ids[r] of table t [V, D] (row 0 for an id outside the table, as the gather
// kernel's: never read outside), the row K_GATHER_STEP_AHEAD on asked for.
static inline const REAL *K_(row_at)(const REAL *t, int64_t V, int64_t D, const int32_t *ids, int64_t r, int64_t rows) {
  K_(ask_row)(t, ids, r, rows, D);
  return t + (ids[r] < 0 || ids[r] >= V ? 0 : ids[r]) * D;
}

// A GATHER step (kernels.h): elements g..g+n-1 of the batch's [t, D] rows of table t,
// of `rows` rows in all.
KSTATIC void K_(gather_run)(const DmcKShape *ts, const REAL *t, const int32_t *ids, int64_t rows, int64_t g, int64_t n,
                            REAL *d) {
  int64_t V = ts->dim[0], D = ts->dim[1], r = g / D, c = g % D;
  if (D == 1) {   // rows of one value (criteo_lr's 26 lookups): an element a row, asked
                  // for K_GATHER_AHEAD rows before, as by the gather kernel
    for (int64_t i = 0; i < n; i++, r++) {
      if (r + K_GATHER_AHEAD < rows) __builtin_prefetch(t + ids[r + K_GATHER_AHEAD]);   // a prefetch cannot fault
      int64_t id = ids[r];
      d[i] = t[id < 0 || id >= V ? 0 : id];   // as the gather kernel: never read outside
    }
    return;
  }
  for (int64_t i = 0; i < n; r++, c = 0) {
    int64_t len = D - c < n - i ? D - c : n - i, id = ids[r];
    if (c == 0) K_(ask_row)(t, ids, r, rows, D);
    if (id < 0 || id >= V) id = 0;   // as the gather kernel: never read outside
    K_(copy)(d + i, t + id * D + c, len);
    i += len;
  }
}

// xs[d]: the step in operand x (numpy-broadcast to o) of one step along o's axis d,
// 0 along x's axes of 1 and those it lacks.
static inline void K_(bcast_strides)(const DmcKShape *x, const DmcKShape *o, int64_t *xs) {
  int64_t stride = 1;
  for (int d = o->rank - 1, off = x->rank - o->rank; d >= 0; d--) {
    int xd = d + off;
    xs[d] = xd >= 0 && x->dim[xd] != 1 ? stride : 0;
    if (xd >= 0) stride *= x->dim[xd];
  }
}

// Elements i0..i0+n-1 of operand x (repeating as K_(run) says) into t. ex > 0:
// the elements run over a whole batch of ex-long examples, x's own per example
// (a trailing run x[i % run] of example i / ex).
KSTATIC void K_(load)(const DmcKShape *x, const DmcKShape *o, int64_t run, const REAL *xe, int64_t i0, int64_t n, REAL *t,
                      int64_t ex) {
  if (run == 1) {   // a scalar (sigmoid's gradient reads 1 - s): a fill, not a memcpy call per element
    for (int64_t i = 0, b = ex ? i0 / ex : 0, at = ex ? i0 % ex : 0; i < n; b++, at = 0) {
      int64_t len = !ex || ex - at > n - i ? n - i : ex - at;   // to the end of example b
      for (int64_t q = 0; q < len; q++) t[i + q] = xe[b];
      i += len;
    }
  } else if (run > 0) {   // x is the output's trailing axes: x[i % run], copied a run at a time
    // example b's x at xe + b * xn; `at`: where in its example the run starts
    // (runs never straddle examples: ex is a multiple of run)
    int64_t xn = ex ? K_(numel)(x) : 0, b = ex ? i0 / ex : 0, at = ex ? i0 % ex : 0;
    for (int64_t i = 0, j = i0 % run; i < n; j = 0) {
      int64_t len = run - j < n - i ? run - j : n - i;
      K_(copy)(t + i, xe + b * xn + j, len);
      i += len;
      if (ex && (at += len) == ex) at = 0, b++;
    }
  } else if (run < 0) {   // leading axes: x[i / m], each value m times, in vectors
    // (an attention's weights against [325, 16] rows: a fill loop per 16 values was
    // a tenth of AFM's inference)
    int64_t m = -run;
    for (int64_t i = 0, c = i0 / m, r = i0 % m; i < n; c++, r = 0) {
      int64_t len = m - r < n - i ? m - r : n - i, q = 0;
      K_(vec) v = (K_(vec)){0} + xe[c];
      for (; q + K_LANES <= len; q += K_LANES) *(K_(uvec) *)(t + i + q) = v;
      for (; q < len; q++) t[i + q] = xe[c];
      i += len;
    }
  } else {
    // numpy broadcasting in general: the output's multi-index of i0 once, then an
    // odometer over the output's rows (x's stride 0 along its axes of 1); along the
    // last axis x is either one value repeated (a fill) or a contiguous run (a copy),
    // so a grid such as CIN's [d, h, 1] * [d, 1, m] costs a row, not an element, at a time
    int R = o->rank;
    if (R == 0) {   // (a scalar output has scalar operands, run 1: not reached)
      for (int64_t i = 0; i < n; i++) t[i] = xe[0];
      return;
    }
    int64_t idx[DMC_KMAX_RANK] = {0}, xs[DMC_KMAX_RANK] = {0}, at = 0, rest = i0;
    K_(bcast_strides)(x, o, xs);
    for (int d = R - 1; d >= 0; d--) {
      idx[d] = rest % o->dim[d];
      rest /= o->dim[d];
      at += idx[d] * xs[d];
    }
    int64_t last = o->dim[R - 1], step = xs[R - 1];   // step: 1 (a run) or 0 (a fill)
    for (int64_t i = 0; i < n;) {
      int64_t len = last - idx[R - 1] < n - i ? last - idx[R - 1] : n - i;
      if (step) K_(copy)(t + i, xe + at, len);
      else
        for (int64_t q = 0; q < len; q++) t[i + q] = xe[at];
      i += len;
      at += step * len;
      if ((idx[R - 1] += len) < last) break;   // i == n: the chunk ended inside a row
      at -= step * last;
      idx[R - 1] = 0;
      for (int d = R - 2; d >= 0; d--) {
        at += xs[d];
        if (++idx[d] < o->dim[d]) break;
        at -= xs[d] * o->dim[d];
        idx[d] = 0;
      }
    }
  }
}

// idx[i] = the offset in operand x (broadcast in general) of element i of an
// example of the program's shape o (on elements): K_(load)'s odometer, once.
#define K_BCAST_INDEX 8192
#define K_BCAST_ROW 16
KSTATIC void K_(bcast_index)(const DmcKShape *x, const DmcKShape *o, int64_t on, int32_t *idx) {
  int R = o->rank;
  int64_t at = 0, pos[DMC_KMAX_RANK] = {0}, xs[DMC_KMAX_RANK] = {0};
  K_(bcast_strides)(x, o, xs);
  for (int64_t i = 0; i < on; i++) {
    idx[i] = (int32_t)at;
    for (int d = R - 1; d >= 0; d--) {
      at += xs[d];
      if (++pos[d] < o->dim[d]) break;
      at -= xs[d] * o->dim[d];
      pos[d] = 0;
    }
  }
}

// y[s] = row ids[r0 + s] of t . x for s < L (r0 + s of `rows` in the batch). By
// K_LANES-wide products, each row's vector then summed by K_(hsum)'s halves, 16
// rows' sums at once where K_(hsum16) is (float): each row's 16 lanes added in turn
// are a chain of 16 adds, which the next rows' could not hide (a sampled softmax's
// 500 dot products of 64 an example: 1.2 ms a batch of 512 in sum_run's order, in a
// loop alone).
KSTATIC void K_(dot_rows)(const REAL *t, int64_t V, int64_t D, const int32_t *ids, int64_t r0, int64_t L, int64_t rows,
                          const REAL *x, REAL *y) {
  int64_t s = 0;
  if (D % K_LANES == 0 && D <= 8 * K_LANES) {
    K_(vec) xv[8], acc[16];
    for (int64_t c = 0; c < D / K_LANES; c++) xv[c] = *(const K_(uvec) *)(x + c * K_LANES);
    for (; s < L;) {
      int n = L - s < 16 ? (int)(L - s) : 16;
      for (int i = 0; i < n; i++) {
        const REAL *row = K_(row_at)(t, V, D, ids, r0 + s + i, rows);
        acc[i] = (K_(vec)){0};
        for (int64_t c = 0; c < D / K_LANES; c++) acc[i] += *(const K_(uvec) *)(row + c * K_LANES) * xv[c];
      }
#ifdef K_TRANSPOSE16
      if (n == 16) {
        K_(vec) h;
        K_(hsum16)(acc, &h);
        *(K_(uvec) *)(y + s) = h;
        s += 16;
        continue;
      }
#endif
      for (int i = 0; i < n; i++) y[s + i] = K_(hsum)(&acc[i]);
      s += n;
    }
    return;
  }
  for (; s < L; s++) {
    y[s] = K_(dot_run)(K_(row_at)(t, V, D, ids, r0 + s, rows), x, D);
  }
}

// A pooled lookup (kernels.h): table rows read in place, never written apart. Ids
// outside the table read row 0, as the gather kernel's. The kernel's axis says what
// is summed:
// - 0, {GATHER table ids; [MUL w;] SUM|MEAN [mask]}: the rows, each times its weight
//   (w [L, 1]), added into the result; masked steps are skipped, a mean divides by
//   the mask's count (at least 1): the kernels it replaces;
// - 1, {GATHER; MUL x; SUM}: each row, times x (an example's [D]), along the row:
//   one dot product a row (K_(dot_rows)).
KSTATIC void K_(pooled_lookup)(const DmcKernel *k, const DmcStep *st, int nstep, int B, REAL *out, const void *const *in) {
  const DmcStep *pool = &st[nstep - 1];
  const REAL *t = K_(real)(in, st[0].a), *m = pool->b >= 0 ? K_(real)(in, pool->b) : NULL;
  const REAL *w = nstep == 3 ? K_(real)(in, st[1].b) : NULL;
  const int32_t *ids = K_(ids)(in, st[0].b);
  int64_t V = k->in[st[0].a].dim[0], D = k->in[st[0].a].dim[1], L = k->in[st[0].b].dim[0];
  int64_t os = k->ostride ? k->ostride : k->axis ? L : D;
  for (int b = 0; b < B; b++) {
    REAL *y = out + b * os, count = 0;
    if (k->axis) {
      K_(dot_rows)(t, V, D, ids, b * L, L, B * L, w + b * D, y);
      continue;
    }
    const REAL *mb = m ? m + b * L : NULL, *wb = w ? w + b * L : NULL;
    if (D % K_LANES == 0 && D <= 8 * K_LANES) {   // the sums in registers, not in y (a sampled softmax's
                                                  // gradient: 500 rows of 64, 1.4 -> 0.8 ms a batch of 512)
      K_(vec) acc[8];
      for (int64_t c = 0; c < D / K_LANES; c++) acc[c] = (K_(vec)){0};
      for (int64_t s = 0; s < L; s++) {
        count += mb ? mb[s] : 1;
        if (mb && mb[s] == 0) continue;
        const REAL *row = K_(row_at)(t, V, D, ids, b * L + s, B * L);
        REAL ws = wb ? wb[s] : 1;
        for (int64_t c = 0; c < D / K_LANES; c++) acc[c] += ws * *(const K_(uvec) *)(row + c * K_LANES);
      }
      for (int64_t c = 0; c < D / K_LANES; c++) *(K_(uvec) *)(y + c * K_LANES) = acc[c];
    } else {
      memset(y, 0, sizeof(REAL) * (size_t)D);
      for (int64_t s = 0; s < L; s++) {
        count += mb ? mb[s] : 1;
        if (mb && mb[s] == 0) continue;
        const REAL *row = K_(row_at)(t, V, D, ids, b * L + s, B * L);
        REAL ws = wb ? wb[s] : 1;
        for (int64_t d = 0; d < D; d++) y[d] += ws * row[d];
      }
    }
    if (pool->op == DMC_OP_MEAN) {
      REAL c = count > 1 ? count : 1;
      for (int64_t d = 0; d < D; d++) y[d] /= c;
    }
  }
}

// Writes n values at element i of example y of k's output: one run, or, when the
// output is a slice strided within an example (compiler/slices.c), rows of k->orow
// floats k->orstride apart.
KSTATIC void K_(put_rows)(REAL *y, int64_t i, const REAL *v, int64_t n, int64_t row, int64_t stride) {
  while (n > 0) {
    int64_t c = i % row, len = row - c < n ? row - c : n;
    memcpy(y + i / row * stride + c, v, sizeof(REAL) * (size_t)len);
    i += len, v += len, n -= len;
  }
}

KSTATIC void K_(put)(const DmcKernel *k, REAL *y, int64_t i, const REAL *v, int64_t n) {
  if (!k->orow) memcpy(y + i, v, sizeof(REAL) * (size_t)n);
  else K_(put_rows)(y, i, v, n, k->orow, k->orstride);
}

// The program st[0..nstep) on k's operands (k->step, or one step for a single op).
KSTATIC void K_(fused)(const DmcKernel *k, const DmcStep *st, int nstep, int B, REAL *out, const void *const *in,
                       uint64_t seed, int training) {
  if (dmc_pooled_lookup(st, nstep)) {
    K_(pooled_lookup)(k, st, nstep, B, out, in);
    return;
  }
  // A tail sum (a last SUM step): the program runs in its operand's shape, the
  // output's with k->len steps inserted at k->axis, and the last step adds each
  // value into the output, in the order the SUM kernel adds them, skipping the
  // steps its mask (operand b, when not a) clears.
  // Last CONCAT steps (puts) write the program's values into a concat: the program
  // runs in the operands' shape (k->len steps at k->axis), each put writing its
  // operand's rows at offset val of the concat's rows.
  int tail = st[nstep - 1].op == DMC_OP_SUM, puts = 0;
  while (puts < nstep && st[nstep - 1 - puts].op == DMC_OP_CONCAT) puts++;
  DmcKShape c = k->out;   // the shape the program runs in
  int64_t inner = 1, tn = tail ? k->len : 1, prow = 0, pstride = 0;
  if (puts) {
    int64_t after = 1;
    for (int d = k->axis + 1; d < c.rank; d++) after *= c.dim[d];
    pstride = c.dim[k->axis] * after;
    c.dim[k->axis] = k->len;
    prow = k->len * after;
  }
  if (tail) {
    for (int d = c.rank; d > k->axis; d--) c.dim[d] = c.dim[d - 1];
    c.dim[k->axis] = k->len;
    c.rank++;
    for (int d = k->axis + 1; d < c.rank; d++) inner *= c.dim[d];
  }
  const DmcKShape *o = &c;
  int64_t on = K_(numel)(o), yn = K_(numel)(&k->out), os = k->ostride ? k->ostride : yn, xn[DMC_KMAX_IN], run[DMC_KMAX_IN];
  int ob = o->batched ? B : 1, nin = k->nin, head = st[0].op == DMC_OP_MATMUL || st[0].op == DMC_OP_MATMUL_NT;
  int used[DMC_KMAX_IN] = {0};
  for (int s = head; s < nstep - tail; s++) {
    if (st[s].op == DMC_OP_CONST || st[s].op == DMC_OP_GATHER) continue;   // (a gather reads its operands itself)
    if (st[s].a < nin) used[st[s].a] = 1;
    if (st[s].b < nin && st[s].op != DMC_OP_DROPMASK) used[st[s].b] = 1;   // (a mask's b is its stream)
  }
  for (int j = 0; j < nin; j++) xn[j] = K_(numel)(&k->in[j]), run[j] = K_(run)(&k->in[j], o);
  // A program whose operands are each an example's own values or a trailing or
  // leading broadcast runs over the batch as one long example (ex: an example's
  // length), so small examples ([5, 8], say) do not pay a set-up every 40 values;
  // with a head, when examples are that small (K_FLAT_HEAD values: a logit, a
  // small layer), its GEMM then takes the whole batch's rows at once; with an
  // unmasked tail sum, the batch's outer rows follow one another in y.
  int64_t ex = 0;
  int flat = (!head || (on <= K_FLAT_HEAD && !tail)) && (!tail || st[nstep - 1].b == st[nstep - 1].a) && !puts &&
             !k->orow && os == (tail ? yn : on) && ob > 1 && o->batched;
  for (int j = 0; flat && j < nin; j++)
    if (used[j]) flat = run[j] != 0 && (k->in[j].batched || run[j] > 0);
  if (flat) {
    for (int j = 0; j < nin; j++)
      if (used[j] && k->in[j].batched && xn[j] == on) xn[j] = on * ob;
    ex = on, on *= ob, yn *= tail ? ob : 1, ob = 1;
  }
  // An operand that repeats a run (a bias, a query against every step) is tiled:
  // copied, repeated, into a block once (a parameter: once per call; an example's
  // own run, a query of 80 against its 50 steps, once per example) and blocks are a
  // multiple of every such run, so each block reads the same tile. Only runs of at
  // least K_DIRECT_RUN are tiled per example: shorter ones are copied into each
  // block, so that small examples can still share a block (flat, below).
  // Before, a run that did not divide K_BLOCK ended every block, and DIN's
  // [50, 80] attention layer paid a block's set-up every 80 values: its bias and
  // sigmoid took 0.9 ms of a 3.0 ms kernel at the training batch.
  // When the runs' least common multiple exceeds K_BLOCK, such an operand is read
  // in place (direct) and blocks end where its runs do.
  REAL tmp[DMC_KMAX_IN + DMC_KMAX_STEPS][K_BLOCK];
  const REAL *slot[DMC_KMAX_IN + DMC_KMAX_STEPS];
  int tiled[DMC_KMAX_IN] = {0}, direct[DMC_KMAX_IN] = {0}, ndirect = 0, pertile = 0;
  int64_t blk = K_BLOCK, lcm = 1, loaded[DMC_KMAX_IN];
  for (int j = 0; j < nin; j++) {
    loaded[j] = -1;
    if (used[j] && run[j] > 0 && xn[j] != on && (!k->in[j].batched || run[j] >= K_DIRECT_RUN)) {
      int64_t g = lcm, h = run[j];
      while (h) {   // g = gcd(lcm, run)
        int64_t r = g % h;
        g = h, h = r;
      }
      lcm = lcm / g * run[j] > K_BLOCK ? K_BLOCK + 1 : lcm / g * run[j];
      tiled[j] = k->in[j].batched ? 2 : 1;
    }
  }
  if (lcm <= K_BLOCK) {
    blk = K_BLOCK / lcm * lcm;
    for (int j = 0; j < nin; j++)
      if (tiled[j] == 1) K_(load)(&k->in[j], o, run[j], K_(real)(in, j), 0, blk, tmp[j], 0);
      else pertile |= tiled[j] == 2;
  } else   // the other repeated runs are copied into each block
    for (int j = 0; j < nin; j++) {
      tiled[j] = 0;
      if (used[j] && run[j] >= K_DIRECT_RUN && K_BLOCK % run[j] && xn[j] != on) direct[j] = 1, ndirect++;
    }
  int64_t tilen = blk < (ex ? ex : on) ? blk : (ex ? ex : on);   // an example's tile: within the example
  // An operand broadcast in general (a CIN grid's [d, m, 1] and [d, 1, h] against
  // [d, m, h]) along rows shorter than K_BCAST_ROW is read through the offset of each
  // of an example's elements, found once per call: walking its multi-index a row at a
  // time cost more than the op (ex:xdeepfm's rows of 6, when stdlib's grid was still
  // [d, h, m]: 2.4 ns an element, training 1.23x faster with the offsets; its first
  // layer, h = m = 6, still takes this path). Longer rows are copies and fills (rows
  // of 26: 8% slower through offsets).
  int32_t bidx[K_BCAST_INDEX];
  const int32_t *bi[DMC_KMAX_IN] = {0};
  for (int j = 0, have = 0; j < nin; j++)
    if (used[j] && run[j] == 0 && !direct[j] && o->rank && o->dim[o->rank - 1] < K_BCAST_ROW && have + on <= K_BCAST_INDEX)
      K_(bcast_index)(&k->in[j], o, on, bidx + have), bi[j] = bidx + have, have += (int)on;
  int64_t kk = 0, nn = 0, rows = 0, wrs = 0, wcs = 1;   // the head's weight element (p, j) at [p * wrs + j * wcs]
  if (head) {
    int nt = st[0].op == DMC_OP_MATMUL_NT;
    kk = k->in[st[0].b].dim[nt], nn = k->in[st[0].b].dim[!nt];
    wrs = nt ? 1 : nn, wcs = nt ? kk : 1;
    rows = K_(numel)(&k->in[st[0].a]) / kk * (flat ? on / ex : 1);   // flat: every example's rows
  }
  // examples per head GEMM: K_HEAD_ROWS rows, enough to pay for packing W (gemm_impl.h)
  // while the rest of the program still finds them in L2; an output strided by
  // example (a concat's slice) is one GEMM row per example at stride os, or one
  // example at a time when it has several rows
  int chunk = head ? (int)(rows >= K_HEAD_ROWS || (rows > 1 && os != yn) ? 1 : K_HEAD_ROWS / rows) : ob;
  for (int b0 = 0; b0 < ob; b0 += chunk) {
    int b1 = b0 + chunk < ob ? b0 + chunk : ob;
    if (head)
      K_(gemm_shared)((b1 - b0) * rows, nn, kk, K_(real)(in, st[0].a) + b0 * rows * K_(ld)(&k->in[st[0].a]),
                      K_(ld)(&k->in[st[0].a]), 1, K_(real)(in, st[0].b), wrs, wcs, out + b0 * os, rows == 1 ? os : nn, 0);
    for (int b = b0; b < b1; b++) {
      REAL *y = out + b * os;
      if (tail) memset(y, 0, sizeof(REAL) * (size_t)yn);
      for (int64_t i0 = 0, n; i0 < on; i0 += n) {
        n = on - i0 < blk ? on - i0 : blk;
        if (pertile && ex && ex - i0 % ex < n) n = ex - i0 % ex;   // an example's tile: blocks end with it
        for (int j = 0; ndirect && j < nin; j++)
          if (direct[j] && run[j] - i0 % run[j] < n) n = run[j] - i0 % run[j];
        for (int j = 0; j < nin; j++) {
          if (!used[j]) continue;
          const REAL *xe = K_(real)(in, j) + (k->in[j].batched ? b * xn[j] : 0);
          if (xn[j] == on) {
            slot[j] = xe + i0;
            continue;
          }
          if (direct[j]) {   // (flat, ex a multiple of the run: example i0 / ex's own values)
            slot[j] = xe + (ex && k->in[j].batched ? i0 / ex * xn[j] : 0) + i0 % run[j];
            continue;
          }
          if (tiled[j] == 2 && loaded[j] != (ex ? i0 / ex : b)) {   // (i0: where an example starts)
            K_(load)(&k->in[j], o, run[j], xe, i0, tilen, tmp[j], ex);
            loaded[j] = ex ? i0 / ex : b;
          }
          if (tiled[j]) {
            slot[j] = tmp[j];
            continue;
          }
          if (bi[j])
            for (int64_t q = 0; q < n; q++) tmp[j][q] = xe[bi[j][i0 + q]];
          else K_(load)(&k->in[j], o, run[j], xe, i0, n, tmp[j], k->in[j].batched && run[j] > 0 ? ex : 0);
          slot[j] = tmp[j];
        }
        if (head) slot[nin] = y + i0;
        for (int s = head; s < nstep - tail - puts; s++) {
          REAL *d = s == nstep - 1 && !k->orow ? y + i0
                    : st[s].store && in[st[s].store] ? (REAL *)in[st[s].store] + b * on + i0
                                                 : tmp[nin + s];
          int unary_b = st[s].op == DMC_OP_CONST || st[s].op == DMC_OP_DROPMASK;   // no second operand
          if (st[s].op == DMC_OP_GATHER)
            K_(gather_run)(&k->in[st[s].a], K_(real)(in, st[s].a), K_(ids)(in, st[s].b), ob * on / k->in[st[s].a].dim[1],
                           b * on + i0, n, d);
          else K_(step_run)(&st[s], n, d, slot[st[s].a], unary_b ? NULL : slot[st[s].b], b * on + i0, seed, training);
          slot[nin + s] = d;
        }
        if (k->orow) K_(put)(k, y, i0, slot[nin + nstep - 1], n);   // no head, no tail sum (slices.c)
        for (int s = nstep - puts; s < nstep; s++) K_(put_rows)(y + (int64_t)st[s].val, i0, slot[st[s].a], n, prow, pstride);
        if (tail) {   // element (p, t, q) of the program's shape adds into y[p, q], a run at a time
          const DmcStep *sum = &st[nstep - 1];
          const REAL *v = slot[sum->a], *m = sum->b != sum->a ? K_(real)(in, sum->b) + b * tn : NULL;
          int64_t q = i0 % inner, t = i0 / inner % tn, p = i0 / (inner * tn);
          for (int64_t i = 0; i < n;) {
            if (inner == 1) {   // along t into one sum
              int64_t len = tn - t < n - i ? tn - t : n - i;
              if (!m) y[p] += K_(sum_run)(v + i, len);
              else {
                REAL acc = y[p];
                for (int64_t j = 0; j < len; j++)
                  if (m[t + j] != 0) acc += v[i + j];
                y[p] = acc;
              }
              i += len, t += len;
            } else if (q == 0 && n - i >= inner) {   // whole rows of one p: summed in registers
              int64_t r = (n - i) / inner < tn - t ? (n - i) / inner : tn - t;
              K_(rows_into)(y + p * inner, v + i, r, inner, inner, m ? m + t : NULL);
              i += r * inner, t += r;
            } else {   // along q: part of one step's row
              int64_t len = inner - q < n - i ? inner - q : n - i;
              if (!m || m[t] != 0) K_(add_into)(y + p * inner + q, v + i, len);
              i += len, q += len;
              if (q < inner) continue;
              q = 0, t++;
            }
            if (t == tn) t = 0, p++;
          }
        }
      }
    }
  }
}

#include "afm_impl.h"

#define P_CLAMP(p) ((p) < (REAL)1e-7 ? (REAL)1e-7 : (p) > (REAL)(1 - 1e-7) ? (REAL)(1 - 1e-7) : (p))

void KFN(const DmcKernel *k, int B, REAL *out, const void *const *in, uint64_t seed, int training) {
  const DmcKShape *o = &k->out;
  int64_t on = K_(numel)(o), os = k->ostride ? k->ostride : on;   // os: honoured by the ops fuse.c places in a concat
  int ob = o->batched ? B : 1;
  switch (k->op) {
  case DMC_OP_FUSED:
    K_(fused)(k, k->step, k->nstep, B, out, in, seed, training);
    return;
  case DMC_OP_CONST:
    for (int64_t i = 0; i < on; i++) out[i] = (REAL)k->fval;
    return;
  case DMC_OP_SEED:
    for (int b = 0; b < ob; b++) out[b] = (REAL)1 / B;
    return;
  case DMC_OP_ADD: case DMC_OP_SUB: case DMC_OP_MUL: case DMC_OP_DIV: case DMC_OP_MAX: case DMC_OP_MIN:
  case DMC_OP_GE: case DMC_OP_NEG: case DMC_OP_EXP: case DMC_OP_LOG: case DMC_OP_SQRT: case DMC_OP_ABS:
  case DMC_OP_SIGMOID: case DMC_OP_TANH: case DMC_OP_RELU: case DMC_OP_STEP: case DMC_OP_SIGN:
  case DMC_OP_STOPGRAD: {   // one elementwise op: a fused program of one step
    DmcStep st = {k->op, 0, k->nin > 1 ? 1 : 0, 0, 0};
    K_(fused)(k, &st, 1, B, out, in, seed, training);
    return;
  }
  case DMC_OP_DROPMASK: {   // k->start numbers the dropout layer: each has its own stream
    K_(dropmask)(k->fval, k->start, seed, training, 0, ob * on, out);
    return;
  }
  case DMC_OP_MASK: {
    const int32_t *ids = K_(ids)(in, 0);
    for (int64_t i = 0; i < ob * on; i++) out[i] = ids[i] != 0;
    return;
  }
  case DMC_OP_SUM: case DMC_OP_MEAN: case DMC_OP_RMAX: {
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    const REAL *m = k->nin == 2 ? K_(real)(in, 1) : NULL;
    int64_t xn = K_(numel)(s);
    int xb = s->batched ? B : 1;
    for (int b = 0; b < xb; b++) {
      const REAL *xe = x + b * xn;
      REAL *y = out + (o->batched ? b * os : 0);
      if (k->axis == DMC_AXIS_ALL) {
        REAL acc = k->op == DMC_OP_RMAX ? xe[0] : K_(sum_run)(xe, xn);
        for (int64_t i = 0; k->op == DMC_OP_RMAX && i < xn; i++) acc = xe[i] > acc ? xe[i] : acc;
        y[0] = k->op == DMC_OP_MEAN ? acc / xn : acc;
        continue;
      }
      int64_t outer, n, inner;
      K_(split)(s, k->axis, &outer, &n, &inner);
      const REAL *me = m ? m + b * n : NULL;
      REAL count = 0;
      for (int64_t t = 0; t < n; t++) count += me ? me[t] : 1;
      if (inner == 1 && k->op != DMC_OP_RMAX && !me) {   // the last axis: contiguous runs
        for (int64_t p = 0; p < outer; p++) {
          const REAL *xp = xe + p * n;
          REAL acc = K_(sum_run)(xp, n);
          y[p] = k->op == DMC_OP_MEAN ? acc / (n > 1 ? (REAL)n : 1) : acc;
        }
        continue;
      }
      for (int64_t p = 0; p < outer; p++) {   // step t outside, so the inner loop runs along memory
        REAL *yp = y + p * inner;
        int seen = 0;
        for (int64_t q = 0; q < inner; q++) yp[q] = 0;
        if (k->op != DMC_OP_RMAX) K_(rows_into)(yp, xe + p * n * inner, n, inner, inner, me);
        else
          for (int64_t t = 0; t < n; t++) {
            if (me && me[t] == 0) continue;
            const REAL *xt = xe + (p * n + t) * inner;
            for (int64_t q = 0; q < inner; q++) yp[q] = seen && yp[q] >= xt[q] ? yp[q] : xt[q];
            seen = 1;
          }
        if (k->op == DMC_OP_MEAN)
          for (int64_t q = 0; q < inner; q++) yp[q] /= count > 1 ? count : 1;
      }
    }
    return;
  }
  case DMC_OP_SOFTMAX: case DMC_OP_SOFTMAX_GRAD: case DMC_OP_RMAX_GRAD: {
    // softmax (x[, mask]); softmax_grad (y, dy[, mask]); reduce_max_grad (x, dy[, mask])
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    const REAL *dy = k->op != DMC_OP_SOFTMAX ? K_(real)(in, 1) : NULL;
    int mi = k->op == DMC_OP_SOFTMAX ? 1 : 2;
    const REAL *m = k->nin == mi + 1 ? K_(real)(in, mi) : NULL;
    int64_t xn = K_(numel)(s), outer, n, inner;
    K_(split)(s, k->axis, &outer, &n, &inner);
    int64_t dyn = dy ? (k->op == DMC_OP_RMAX_GRAD ? outer * inner : xn) : 0;
    for (int b = 0; b < ob; b++) {
      const REAL *xe = x + (s->batched ? b * xn : 0);
      const REAL *me = m ? m + b * n : NULL;
      const REAL *de = dy ? dy + b * dyn : NULL;
      REAL *y = out + b * xn;
      if (k->op != DMC_OP_RMAX_GRAD && inner == 1 && !me) {   // rows along memory, unmasked: loops that vectorize
        for (int64_t p = 0; p < outer; p++)
          if (k->op == DMC_OP_SOFTMAX) K_(softmax_row)(xe + p * n, y + p * n, n);
          else K_(softmax_grad_row)(xe + p * n, de + p * n, y + p * n, n);
        continue;
      }
      for (int64_t p = 0; p < outer; p++)
        for (int64_t q = 0; q < inner; q++) {
#define AT(t) ((p * n + (t)) * inner + q)
#define ON(t) (!me || me[t] != 0)
          if (k->op == DMC_OP_SOFTMAX) {
            REAL mx = -INFINITY, sum = 0;
            for (int64_t t = 0; t < n; t++)
              if (ON(t) && xe[AT(t)] > mx) mx = xe[AT(t)];
            for (int64_t t = 0; t < n; t++) {
              y[AT(t)] = ON(t) ? K_(exp)(xe[AT(t)] - mx) : 0;
              sum += y[AT(t)];
            }
            for (int64_t t = 0; t < n; t++) y[AT(t)] = sum > 0 ? y[AT(t)] / sum : 0;
          } else if (k->op == DMC_OP_SOFTMAX_GRAD) {
            REAL dot = 0;
            for (int64_t t = 0; t < n; t++) dot += xe[AT(t)] * de[AT(t)];
            for (int64_t t = 0; t < n; t++) y[AT(t)] = ON(t) ? xe[AT(t)] * (de[AT(t)] - dot) : 0;
          } else {
            int64_t best = -1;
            for (int64_t t = 0; t < n; t++)
              if (ON(t) && (best < 0 || xe[AT(t)] > xe[AT(best)])) best = t;
            for (int64_t t = 0; t < n; t++) y[AT(t)] = t == best ? de[p * inner + q] : 0;
          }
#undef AT
#undef ON
        }
    }
    return;
  }
  case DMC_OP_GRU:
    K_(gru)(k, B, out, in);
    return;
  case DMC_OP_GRU_GRAD:
    K_(gru_grad)(k, B, out, in);
    return;
  case DMC_OP_AFM_POOL:
    K_(afm_pool)(k, B, out, in);
    return;
  case DMC_OP_AFM_POOL_GRAD:
    K_(afm_pool_grad)(k, B, out, in);
    return;
  case DMC_OP_STANDARDIZE: case DMC_OP_STANDARDIZE_GRAD: {
    // per element over the batch: xhat = (x - mean) / sqrt(var + 1e-5). Training uses
    // the batch's statistics and moves the running ones (operands 1, 2) towards them
    // (momentum 0.99); inference uses the running ones, so a score does not depend on
    // the batch it came in.
    // Columns are taken 512 at a time, so the batch is read row by row, 2 KiB of
    // each (each column's sums in the same order as one column at a time).
    const REAL *x = K_(real)(in, 0);
    const REAL *dy = k->op == DMC_OP_STANDARDIZE_GRAD ? K_(real)(in, 1) : NULL;
    REAL *run_mean = !dy ? (REAL *)in[1] : NULL, *run_var = !dy ? (REAL *)in[2] : NULL;
    enum { W = 512 };
    if (!dy && !training) {   // inference: the running statistics, in the kernel's precision
      for (int64_t c0 = 0; c0 < on; c0 += W) {
        int w = on - c0 < W ? (int)(on - c0) : W;
        REAL iv[W];
        for (int j = 0; j < w; j++) iv[j] = 1 / K_MATH(sqrt)(run_var[c0 + j] + (REAL)1e-5);
        for (int b = 0; b < B; b++)
          for (int j = 0; j < w; j++) out[b * on + c0 + j] = (x[b * on + c0 + j] - run_mean[c0 + j]) * iv[j];
      }
      return;
    }
    for (int64_t c0 = 0; c0 < on; c0 += W) {
      int w = on - c0 < W ? (int)(on - c0) : W;
      double mean[W], var[W], mdy[W], mdyx[W];   // zeroed as far as w, the gradient's sums only with dy
      REAL inv[W];
      memset(mean, 0, sizeof(double) * (size_t)w), memset(var, 0, sizeof(double) * (size_t)w);
      for (int b = 0; b < B; b++)
        for (int j = 0; j < w; j++) mean[j] += x[b * on + c0 + j];
      for (int j = 0; j < w; j++) mean[j] /= B;
      for (int b = 0; b < B; b++)
        for (int j = 0; j < w; j++) var[j] += (x[b * on + c0 + j] - mean[j]) * (x[b * on + c0 + j] - mean[j]);
      for (int j = 0; j < w; j++) var[j] /= B;
      if (!dy && training == 1)   // 2: a data-parallel share that leaves them to share 0
        for (int j = 0; j < w; j++) {
          run_mean[c0 + j] = (REAL)(0.99 * run_mean[c0 + j] + 0.01 * mean[j]);
          run_var[c0 + j] = (REAL)(0.99 * run_var[c0 + j] + 0.01 * var[j]);
        }
      for (int j = 0; j < w; j++) inv[j] = 1 / K_MATH(sqrt)((REAL)(var[j] + 1e-5));
      if (!dy) {
        for (int b = 0; b < B; b++)
          for (int j = 0; j < w; j++) out[b * on + c0 + j] = (REAL)((x[b * on + c0 + j] - mean[j]) * inv[j]);
        continue;
      }
      memset(mdy, 0, sizeof(double) * (size_t)w), memset(mdyx, 0, sizeof(double) * (size_t)w);
      for (int b = 0; b < B; b++)
        for (int j = 0; j < w; j++) {
          double xh = (x[b * on + c0 + j] - mean[j]) * inv[j];
          mdy[j] += dy[b * on + c0 + j];
          mdyx[j] += dy[b * on + c0 + j] * xh;
        }
      for (int j = 0; j < w; j++) mdy[j] /= B, mdyx[j] /= B;
      for (int b = 0; b < B; b++)
        for (int j = 0; j < w; j++) {
          double xh = (x[b * on + c0 + j] - mean[j]) * inv[j];
          out[b * on + c0 + j] = (REAL)(inv[j] * (dy[b * on + c0 + j] - mdy[j] - xh * mdyx[j]));
        }
    }
    return;
  }
  case DMC_OP_SUM_TO: {
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int64_t xn = K_(numel)(s);
    int64_t r = K_(run)(o, s);   // how the output repeats along the input
    memset(out, 0, sizeof(REAL) * (size_t)(ob * on));
    if (s->ld) {   // rows read in place (slice_views.c), the output their axis: the same adds in the same order
      K_(rows_into)(out, x, xn / on * (s->batched ? B : 1), on, s->ld, NULL);
      return;
    }
    for (int b = 0; b < (s->batched ? B : 1); b++) {
      REAL *y = out + (o->batched ? b * on : 0);
      const REAL *xe = x + b * xn;
      if (r == 1)   // one value per example: a dot product's gradient
        y[0] += K_(sum_run)(xe, xn);
      else if (r > 0)   // the output is the input's trailing axes (a bias's gradient)
        K_(rows_into)(y, xe, xn / r, r, r, NULL);
      else if (r < 0)   // its leading axes: sums of runs of -r elements
        for (int64_t c = 0; c < on; c++) {
          y[c] += K_(sum_run)(xe + c * -r, -r);
        }
      else
        for (int64_t i = 0; i < xn; i++) y[K_(bcast)(o, s, i)] += xe[i];
    }
    return;
  }
  case DMC_OP_BROADCAST: {
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int64_t xn = K_(numel)(s);
    for (int b = 0; b < ob; b++)
      for (int64_t i = 0; i < on; i++) out[b * on + i] = x[(s->batched ? b * xn : 0) + K_(bcast)(s, o, i)];
    return;
  }
  case DMC_OP_MATMUL:        // a [P.., k] @ w [k, n]; w per example or shared
  case DMC_OP_MATMUL_NT: {   // a [P.., k] @ w [n, k]^T: the GEMM reads w transposed, never copied
    const DmcKShape *sa = &k->in[0], *sw = &k->in[1];
    const REAL *a = K_(real)(in, 0), *w = K_(real)(in, 1);
    int nt = k->op == DMC_OP_MATMUL_NT, kk = sw->dim[nt], nn = sw->dim[!nt];
    int64_t wrs = nt ? 1 : nn, wcs = nt ? kk : 1;   // w's element (p, j) at w[p * wrs + j * wcs]
    int64_t rows = K_(numel)(sa) / kk;
    int ab = sa->batched, wb = sw->batched;
    if (!wb && (os == on || rows == 1)) {   // one GEMM over every row of the batch
      int64_t total = (ab ? B : 1) * rows;
      K_(gemm_shared)(total, nn, kk, a, K_(ld)(sa), 1, w, wrs, wcs, out, rows == 1 ? os : nn, 0);
      if (!ab && o->batched)
        for (int b = 1; b < B; b++) memcpy(out + b * os, out, sizeof(REAL) * (size_t)on);
      return;
    }
    for (int b = 0; b < B; b++) {   // per example: its own weight, or rows strided by example
      const REAL *ae = a + (ab ? b * rows * K_(ld)(sa) : 0), *we = w + (wb ? (int64_t)b * kk * nn : 0);
      K_(gemm_shared)(rows, nn, kk, ae, K_(ld)(sa), 1, we, wrs, wcs, out + b * os, nn, 0);
    }
    return;
  }
  case DMC_OP_MATMUL_TN: {   // sum_p a[p, k] b[p, n]; per example when the output is batched
    const DmcKShape *sa = &k->in[0], *sb = &k->in[1];
    const REAL *a = K_(real)(in, 0), *bm = K_(real)(in, 1);
    int kk = o->dim[0], nn = o->dim[1];
    int64_t rows = K_(numel)(sa) / kk;
    if (!o->batched && sa->batched && sb->batched) {   // a weight's gradient: one GEMM over every row, written not added
      K_(gemm)(kk, nn, (int64_t)B * rows, a, 1, K_(ld)(sa), bm, K_(ld)(sb), 1, out, nn, 0);
      return;
    }
    memset(out, 0, sizeof(REAL) * (size_t)(ob * on));
    for (int b = 0; b < B; b++) {
      if (!sa->batched && !sb->batched && b > 0) break;
      const REAL *ae = a + (sa->batched ? b * rows * K_(ld)(sa) : 0), *be = bm + (sb->batched ? b * rows * K_(ld)(sb) : 0);
      REAL *y = out + (o->batched ? b * on : 0);
      // y[kk, nn] += a^T b: a GEMM whose left operand is a read transposed
      K_(gemm)(kk, nn, rows, ae, 1, K_(ld)(sa), be, K_(ld)(sb), 1, y, nn, 1);
    }
    return;
  }
  case DMC_OP_GATHER: {   // table [V, D] or per-example vector [V]; ids any shape
    // a large table's rows are at random: each is asked for K_GATHER_AHEAD
    // lookups before it is copied, so the misses overlap
    const DmcKShape *st = &k->in[0], *si = &k->in[1];
    const REAL *t = K_(real)(in, 0);
    const int32_t *ids = K_(ids)(in, 1);
    int64_t nid = K_(numel)(si), V = st->dim[0], D = st->rank == 2 ? st->dim[1] : 1, tn = K_(numel)(st);
    for (int b = 0; b < ob; b++)
      for (int64_t i = 0; i < nid; i++) {
        int64_t id = ids[(si->batched ? b * nid : 0) + i];
        if (!st->batched && si->batched && b * nid + i + K_GATHER_AHEAD < ob * nid)
          __builtin_prefetch(t + (int64_t)ids[b * nid + i + K_GATHER_AHEAD] * D);   // a prefetch cannot fault
        if (id < 0 || id >= V) id = 0;   // the runtime maps ids into range; never read outside
        const REAL *row = t + (st->batched ? b * tn : 0) + id * D;
        if (k->orow) K_(put)(k, out + b * os, i * D, row, D);
        else
          for (int64_t d = 0; d < D; d++) out[b * os + i * D + d] = row[d];
      }
    return;
  }
  case DMC_OP_SCATTER: {   // out[ids[t]] += vals[t]
    const DmcKShape *si = &k->in[0];
    const int32_t *ids = K_(ids)(in, 0);
    const REAL *v = K_(real)(in, 1);
    int64_t nid = K_(numel)(si);
    memset(out, 0, sizeof(REAL) * (size_t)(ob * on));
    for (int b = 0; b < ob; b++)
      for (int64_t i = 0; i < nid; i++) {
        int32_t id = ids[b * nid + i];
        if (id >= 0 && id < on) out[b * on + id] += v[(k->in[1].batched ? b * nid : 0) + i];
      }
    return;
  }
  case DMC_OP_CONCAT: {   // a NULL operand was written into its slice by its producer
    int64_t outer, n, inner;
    K_(split)(o, k->axis, &outer, &n, &inner);
    for (int b = 0; b < ob; b++) {
      int64_t at = 0;
      for (int j = 0; j < k->nin; j++) {
        const DmcKShape *s = &k->in[j];
        const REAL *x = K_(real)(in, j);
        int64_t xn = K_(numel)(s), w = s->dim[k->axis] * inner;
        const REAL *xe = x ? x + (s->batched ? b * xn : 0) : NULL;
        for (int64_t p = 0; xe && p < outer; p++) memcpy(out + b * os + p * n * inner + at, xe + p * w, sizeof(REAL) * (size_t)w);
        at += w;
      }
    }
    return;
  }
  case DMC_OP_SLICE: case DMC_OP_PAD: {
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int64_t xn = K_(numel)(s), outer, nx, inner, no, dummy;
    K_(split)(s, k->axis, &outer, &nx, &inner);
    K_(split)(o, k->axis, &dummy, &no, &inner);
    if (k->op == DMC_OP_PAD) memset(out, 0, sizeof(REAL) * (size_t)(ob * on));
    int64_t w = (k->op == DMC_OP_SLICE ? no : nx) * inner;
    for (int b = 0; b < ob; b++) {
      const REAL *xe = x + (s->batched ? b * xn : 0);
      for (int64_t p = 0; p < outer; p++) {
        if (k->op == DMC_OP_SLICE) memcpy(out + b * on + p * no * inner, xe + (p * nx + k->start) * inner, sizeof(REAL) * (size_t)w);
        else memcpy(out + b * on + (p * no + k->start) * inner, xe + p * nx * inner, sizeof(REAL) * (size_t)w);
      }
    }
    return;
  }
  case DMC_OP_RESHAPE: {
    const DmcKShape *s = &k->in[0];
    if (s->is_ids) {   // a reshaped id tensor stays ids: copy the bits
      memcpy(out, in[0], sizeof(int32_t) * (size_t)(ob * on));
      return;
    }
    if (!s->batched && o->batched) {
      for (int b = 0; b < B; b++) memcpy(out + b * on, in[0], sizeof(REAL) * (size_t)on);
      return;
    }
    memcpy(out, in[0], sizeof(REAL) * (size_t)(ob * on));
    return;
  }
  case DMC_OP_TRANSPOSE: {
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int r = s->dim[s->rank - 2], c = s->dim[s->rank - 1];
    int64_t mats = on / ((int64_t)r * c);
    for (int b = 0; b < ob; b++)
      for (int64_t m = 0; m < mats; m++) {
        const REAL *xe = x + (s->batched ? b * on : 0) + m * r * c;
        REAL *y = out + b * on + m * r * c;
        for (int i = 0; i < r; i++)
          for (int j = 0; j < c; j++) y[j * r + i] = xe[i * c + j];
      }
    return;
  }
  case DMC_OP_PAIRS: case DMC_OP_PAIRS_GRAD: {   // e [f, k] -> e_i * e_j [f(f-1)/2, k], i < j, row by row; and back
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0), *dy = k->op == DMC_OP_PAIRS_GRAD ? K_(real)(in, 1) : NULL;
    int64_t f = s->dim[0], kd = s->dim[1], xn = K_(numel)(s), P = f * (f - 1) / 2;
    for (int b = 0; b < ob; b++) {
      const REAL *restrict xe = x + (s->batched ? b * xn : 0);
      REAL *restrict y = out + b * os;
      if (!dy) {
        for (int64_t i = 0, p = 0; i < f; i++)
          for (int64_t j = i + 1; j < f; j++, p++)
            for (int64_t c = 0; c < kd; c++) y[p * kd + c] = xe[i * kd + c] * xe[j * kd + c];
        continue;
      }
      const REAL *restrict d = dy + (k->in[1].batched ? b * P * kd : 0);
      memset(y, 0, sizeof(REAL) * (size_t)xn);
      for (int64_t i = 0, p = 0; i < f; i++)   // row i gets dy_(i,j) e_j, row j dy_(i,j) e_i
        for (int64_t j = i + 1; j < f; j++, p++)
          for (int64_t c = 0; c < kd; c++) {
            y[i * kd + c] += d[p * kd + c] * xe[j * kd + c];
            y[j * kd + c] += d[p * kd + c] * xe[i * kd + c];
          }
    }
    return;
  }
  case DMC_OP_TRIU: case DMC_OP_TRIU_GRAD: {   // [.., n, n] <-> its strict upper triangle [.., P], row by row
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int grad = k->op == DMC_OP_TRIU_GRAD;
    int64_t n = grad ? k->len : s->dim[s->rank - 1], P = n * (n - 1) / 2, xn = K_(numel)(s);
    int64_t mats = (grad ? xn : on) / P;
    for (int b = 0; b < ob; b++)
      for (int64_t m = 0; m < mats; m++) {
        const REAL *xe = x + (s->batched ? b * xn : 0) + m * (grad ? P : n * n);
        REAL *y = out + b * os + m * (grad ? n * n : P);
        for (int64_t i = 0, p = 0; i < n; p += n - 1 - i, i++) {
          if (grad) {   // row i: zeros to the diagonal, then its n - 1 - i entries
            for (int64_t j = 0; j <= i; j++) y[i * n + j] = 0;
            memcpy(y + i * n + i + 1, xe + p, sizeof(REAL) * (size_t)(n - 1 - i));
          } else
            memcpy(y + p, xe + i * n + i + 1, sizeof(REAL) * (size_t)(n - 1 - i));
        }
      }
    return;
  }
  case DMC_OP_EXPAND: {   // insert axis `axis` of size len
    const DmcKShape *s = &k->in[0];
    const REAL *x = K_(real)(in, 0);
    int64_t xn = K_(numel)(s), outer, n, inner;
    K_(split)(o, k->axis, &outer, &n, &inner);
    for (int b = 0; b < ob; b++) {
      const REAL *xe = x + (s->batched ? b * xn : 0);
      for (int64_t p = 0; p < outer; p++)
        for (int64_t t = 0; t < n; t++)
          K_(put)(k, out + b * os, (p * n + t) * inner, xe + p * inner, inner);
    }
    return;
  }
  case DMC_OP_BCE: case DMC_OP_MSE: case DMC_OP_BCE_GRAD: {
    // per example: mean over elements of -(y log p + (1-y) log(1-p)), or of (p - y)^2
    const DmcKShape *sp = &k->in[0], *sy = &k->in[1];
    const REAL *p = K_(real)(in, 0), *yv = K_(real)(in, 1);
    const REAL *dl = k->op == DMC_OP_BCE_GRAD ? K_(real)(in, 2) : NULL;
    int64_t n = K_(numel)(sp);
    for (int b = 0; b < ob; b++) {
      const REAL *pe = p + (sp->batched ? b * n : 0), *ye = yv + (sy->batched ? b * n : 0);
      if (dl) {
        for (int64_t i = 0; i < n; i++) {
          REAL q = P_CLAMP(pe[i]);
          out[b * n + i] = dl[b] / n * (q - ye[i]) / (q * (1 - q));
        }
        continue;
      }
      REAL acc = 0;
      for (int64_t i = 0; i < n; i++) {
        if (k->op == DMC_OP_MSE) {
          acc += (pe[i] - ye[i]) * (pe[i] - ye[i]);
        } else {
          REAL q = P_CLAMP(pe[i]);
          acc -= ye[i] * K_MATH(log)(q) + (1 - ye[i]) * K_MATH(log)(1 - q);
        }
      }
      out[b] = acc / n;
    }
    return;
  }
  case DMC_OP_SOFTMAX_CE: case DMC_OP_SOFTMAX_CE_GRAD: {
    const REAL *l = K_(real)(in, 0);
    const int32_t *id = K_(ids)(in, 1);
    const REAL *dl = k->op == DMC_OP_SOFTMAX_CE_GRAD ? K_(real)(in, 2) : NULL;
    int64_t n = k->in[0].dim[0];
    for (int b = 0; b < ob; b++) {
      const REAL *le = l + b * n;
      REAL mx = le[0], sum = 0;
      for (int64_t i = 1; i < n; i++) mx = le[i] > mx ? le[i] : mx;
      for (int64_t i = 0; i < n; i++) sum += K_MATH(exp)(le[i] - mx);
      int64_t t = id[b] >= 0 && id[b] < n ? id[b] : 0;
      if (dl)
        for (int64_t i = 0; i < n; i++) out[b * n + i] = dl[b] * (K_MATH(exp)(le[i] - mx) / sum - (i == t));
      else
        out[b] = mx + K_MATH(log)(sum) - le[t];
    }
    return;
  }
  default:
    // INPUT and PARAM never reach a kernel
    memset(out, 0, sizeof(REAL) * (size_t)(ob * on));
    return;
  }
}
