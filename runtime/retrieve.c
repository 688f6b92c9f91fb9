/* retrieve.c -- brute-force top-k retrieval and recall@k (see retrieve.h).
 *
 * Layout: the candidates lo..hi-1, largest norm first, are copied once
 * into ntiles tiles of TILE rows, each [dim][TILE] (dimension-major, zero
 * past the last; `order` holds the row of each column), so the kernel's
 * inner loop runs over TILE consecutive floats of one dimension.
 * A thread takes a block of BLOCK users (copied, zero-padded to a multiple
 * of PAD rows) and, for every tile, computes the BLOCK x TILE scores in
 * MR x NR register tiles; each register tile is compared in registers with
 * its users' thresholds (the worst score of a full heap), and only the
 * scores that pass are offered to the heaps: almost all are rejected
 * without leaving the registers. The tile (dim * TILE floats: 32 KB at
 * dim 64) and the block (16 KB) stay in cache.
 */
#define _POSIX_C_SOURCE 200809L
#include "retrieve.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define TILE RT_RETRIEVE_TILE
#define BLOCK 64   /* users per block */
#define PAD 8      /* blocks are padded to a multiple of PAD users (every kernel's MR divides it) */
#define MR 4       /* users per register tile (portable and AVX2 kernels) */
#define NR 16      /* candidates per register tile (portable and AVX2 kernels) */

/* ---- the heap ---- */

/* a ranks below b: a lower score, or the same score and a later row (no branches) */
static inline int worse(float sa, int32_t ra, float sb, int32_t rb) {
  return (sa < sb) | ((sa == sb) & (ra > rb));
}

static void sift_down(RtTopK *h, int i) {
  float s = h->score[i];
  int32_t r = h->row[i];
  const int n = h->n;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n) break;
    c += c + 1 < n && worse(h->score[c + 1], h->row[c + 1], h->score[c], h->row[c]);
    if (!worse(h->score[c], h->row[c], s, r)) break;
    h->score[i] = h->score[c];
    h->row[i] = h->row[c];
    i = c;
  }
  h->score[i] = s;
  h->row[i] = r;
}

static inline void push(RtTopK *h, float s, int32_t r) {
  if (isnan(s)) return;
  if (h->n < h->k) { /* sift up */
    int i = h->n++;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!worse(s, r, h->score[p], h->row[p])) break;
      h->score[i] = h->score[p];
      h->row[i] = h->row[p];
      i = p;
    }
    h->score[i] = s;
    h->row[i] = r;
    return;
  }
  if (h->k < 1 || !worse(h->score[0], h->row[0], s, r)) return;
  h->score[0] = s;
  h->row[0] = r;
  sift_down(h, 0);
}

void rt_topk_push(RtTopK *h, float score, int32_t row) { push(h, score, row); }

int rt_topk_sort(RtTopK *h) {
  int n = h->n;
  while (h->n > 1) { /* the worst goes to the end */
    int last = --h->n;
    float s = h->score[0];
    int32_t r = h->row[0];
    h->score[0] = h->score[last];
    h->row[0] = h->row[last];
    h->score[last] = s;
    h->row[last] = r;
    sift_down(h, 0);
  }
  h->n = 0;
  return n;
}

/* ---- scoring a block of users against a tile ---- */

typedef struct Block {
  const float *U;          /* [mb][dim] users, zero rows past nb */
  int mb, nb;              /* mb: nb rounded up to a multiple of PAD */
  int64_t dim;
  RtTopK *heaps;           /* [nb] */
  float thr[BLOCK];        /* a score below thr[u] cannot enter heap u; NaN past nb (never) */
} Block;

/* Offers user u the scores s[c] of rows row[c] for the set bits c of mask. */
static void offer(Block *b, int u, const float *s, const int32_t *row, unsigned mask) {
  RtTopK *h = &b->heaps[u];
  for (int c = 0; mask; c++, mask >>= 1)
    if ((mask & 1) && s[c] >= b->thr[u]) {
      push(h, s[c], row[c]);
      if (h->n == h->k) b->thr[u] = h->score[0];
    }
}

/* Users 0..mb of b against T [dim][TILE], its first `valid` columns being
 * rows row[0..valid): portable C. */
static void score_tile(Block *b, const float *restrict T, const int32_t *row, int valid) {
  const int64_t dim = b->dim;
  for (int u0 = 0; u0 < b->mb; u0 += MR) {
    const float *u = b->U + (int64_t)u0 * dim;
    for (int i0 = 0; i0 < valid; i0 += NR) {
      float acc[MR][NR];
      for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) acc[r][c] = 0.0f;
      for (int64_t p = 0; p < dim; p++) {
        const float *t = T + p * TILE + i0;
        for (int r = 0; r < MR; r++) {
          float a = u[r * dim + p];
          for (int c = 0; c < NR; c++) acc[r][c] += a * t[c];
        }
      }
      unsigned lanes = valid - i0 >= NR ? (1u << NR) - 1 : (1u << (valid - i0)) - 1;
      for (int r = 0; r < MR; r++) {
        unsigned mask = 0;
        for (int c = 0; c < NR; c++) mask |= (unsigned)(acc[r][c] >= b->thr[u0 + r]) << c;
        if (mask & lanes) offer(b, u0 + r, acc[r], row + i0, mask & lanes);
      }
    }
  }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_KERNEL 1

/* The same with AVX2 and FMA: MR x NR = 4 x 16 scores in 8 registers (per
 * dimension two loads of the tile and four broadcasts feed eight FMAs),
 * compared in registers with the four thresholds: a register tile goes to
 * the heaps only when one of its scores could enter one. The tile is
 * 32-byte aligned (rows of TILE floats). */
#define ROW(r)                                                                      \
  a = _mm256_broadcast_ss(u + (r) * dim + p);                                       \
  c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                        \
  c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1)
#define MASK(r)                                                                     \
  a = _mm256_broadcast_ss(&b->thr[u0 + (r)]);                                       \
  m##r = ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(c##r##0, a, _CMP_GE_OQ)) |     \
          (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(c##r##1, a, _CMP_GE_OQ)) << 8) & lanes
#define OFFER(r)                                                                    \
  if (m##r) {                                                                       \
    _mm256_storeu_ps(s, c##r##0);                                                   \
    _mm256_storeu_ps(s + 8, c##r##1);                                               \
    offer(b, u0 + (r), s, row + i0, m##r);                                          \
  }
__attribute__((target("avx2,fma"))) static void score_tile_avx2(Block *b, const float *restrict T,
                                                                const int32_t *row, int valid) {
  const int64_t dim = b->dim;
  float s[NR];
  for (int u0 = 0; u0 < b->mb; u0 += 4) {
    const float *u = b->U + (int64_t)u0 * dim;
    for (int i0 = 0; i0 < valid; i0 += 16) {
      __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
      __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00, a;
      const float *t = T + i0;
      for (int64_t p = 0; p < dim; p++, t += TILE) {
        __m256 b0 = _mm256_load_ps(t), b1 = _mm256_load_ps(t + 8);
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
      }
      unsigned lanes = valid - i0 >= 16 ? 0xffffu : (1u << (valid - i0)) - 1, m0, m1, m2, m3;
      MASK(0);
      MASK(1);
      MASK(2);
      MASK(3);
      if (!(m0 | m1 | m2 | m3)) continue;
      OFFER(0)
      OFFER(1)
      OFFER(2)
      OFFER(3)
    }
  }
}
#undef ROW
#undef MASK
#undef OFFER

/* AVX-512: 8 x 32 scores in 16 registers (two loads and eight broadcasts
 * feed sixteen FMAs per dimension); the tile is 64-byte aligned. */
#define ROW(r)                                                                      \
  a = _mm512_set1_ps(u[(r) * dim + p]);                                             \
  c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                        \
  c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1)
#define MASK(r)                                                                     \
  a = _mm512_set1_ps(b->thr[u0 + (r)]);                                             \
  m[r] = ((unsigned)_mm512_cmp_ps_mask(c##r##0, a, _CMP_GE_OQ) |                    \
          (unsigned)_mm512_cmp_ps_mask(c##r##1, a, _CMP_GE_OQ) << 16) & lanes;      \
  any |= m[r]
#define OFFER(r)                                                                    \
  if (m[r]) {                                                                       \
    _mm512_storeu_ps(s, c##r##0);                                                   \
    _mm512_storeu_ps(s + 16, c##r##1);                                              \
    offer(b, u0 + (r), s, row + i0, m[r]);                                          \
  }
__attribute__((target("avx512f"))) static void score_tile_avx512(Block *b, const float *restrict T,
                                                                 const int32_t *row, int valid) {
  const int64_t dim = b->dim;
  float s[32];
  for (int u0 = 0; u0 < b->mb; u0 += 8) {
    const float *u = b->U + (int64_t)u0 * dim;
    for (int i0 = 0; i0 < valid; i0 += 32) {
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
      __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00;
      __m512 c61 = c00, c70 = c00, c71 = c00, a;
      const float *t = T + i0;
      for (int64_t p = 0; p < dim; p++, t += TILE) {
        __m512 b0 = _mm512_load_ps(t), b1 = _mm512_load_ps(t + 16);
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
        ROW(6);
        ROW(7);
      }
      unsigned lanes = valid - i0 >= 32 ? 0xffffffffu : (1u << (valid - i0)) - 1, m[8], any = 0;
      MASK(0);
      MASK(1);
      MASK(2);
      MASK(3);
      MASK(4);
      MASK(5);
      MASK(6);
      MASK(7);
      if (!any) continue;
      OFFER(0)
      OFFER(1)
      OFFER(2)
      OFFER(3)
      OFFER(4)
      OFFER(5)
      OFFER(6)
      OFFER(7)
    }
  }
}
#undef ROW
#undef MASK
#undef OFFER
#endif

typedef void (*TileFn)(Block *, const float *restrict, const int32_t *, int);

static TileFn pick_kernel(void) {
#ifdef HAVE_AVX2_KERNEL
  const char *force = getenv("DMC_RETRIEVE_KERNEL"); /* "c", "avx2": a slower kernel, to compare */
  __builtin_cpu_init();
  if (force && !strcmp(force, "c")) return score_tile;
  if (__builtin_cpu_supports("avx512f") && !(force && !strcmp(force, "avx2")))
    return score_tile_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return score_tile_avx2;
#endif
  return score_tile;
}

/* ---- threads over blocks of users ---- */

typedef struct Job {
  const float *users, *packed;
  const int32_t *order;  /* [ntiles * TILE] the row of each packed column */
  int64_t n, dim, lo, hi, ntiles, nblocks;
  int k;
  int32_t *rows;
  float *scores;
  TileFn kernel;
  atomic_llong next;   /* the next block to take */
  atomic_int failed;
} Job;

static void *run_blocks(void *arg) {
  Job *j = arg;
  int64_t dim = j->dim;
  float *U = malloc((size_t)BLOCK * (size_t)dim * sizeof *U);
  float *hs = malloc((size_t)BLOCK * (size_t)j->k * sizeof *hs);
  int32_t *hr = malloc((size_t)BLOCK * (size_t)j->k * sizeof *hr);
  RtTopK heaps[BLOCK];
  Block b = {.U = U, .dim = dim, .heaps = heaps};
  if (!U || !hs || !hr) {
    atomic_store(&j->failed, 1);
    goto done;
  }
  for (int u = 0; u < BLOCK; u++)
    heaps[u] = (RtTopK){j->k, 0, hs + (size_t)u * (size_t)j->k, hr + (size_t)u * (size_t)j->k};
  for (;;) {
    int64_t bi = atomic_fetch_add(&j->next, 1);
    if (bi >= j->nblocks) break;
    int64_t start = bi * BLOCK;
    b.nb = (int)(j->n - start < BLOCK ? j->n - start : BLOCK);
    b.mb = (b.nb + PAD - 1) / PAD * PAD;
    memcpy(U, j->users + start * dim, (size_t)b.nb * (size_t)dim * sizeof *U);
    memset(U + (int64_t)b.nb * dim, 0, (size_t)(b.mb - b.nb) * (size_t)dim * sizeof *U);
    for (int u = 0; u < b.mb; u++) b.thr[u] = u < b.nb ? -INFINITY : NAN;
    for (int u = 0; u < b.nb; u++) heaps[u].n = 0;
    for (int64_t t = 0; t < j->ntiles; t++) {
      int64_t first = t * TILE;
      int valid = (int)(j->hi - j->lo - first < TILE ? j->hi - j->lo - first : TILE);
      j->kernel(&b, j->packed + t * dim * TILE, j->order + first, valid);
    }
    for (int u = 0; u < b.nb; u++) {
      int got = rt_topk_sort(&heaps[u]);
      int32_t *rows = j->rows + (start + u) * j->k;
      float *sc = j->scores ? j->scores + (start + u) * j->k : NULL;
      for (int i = 0; i < j->k; i++) {
        rows[i] = i < got ? heaps[u].row[i] : -1;
        if (sc) sc[i] = i < got ? heaps[u].score[i] : -INFINITY;
      }
    }
  }
done:
  free(U);
  free(hs);
  free(hr);
  return NULL;
}

typedef struct Norm {
  double q;      /* squared norm (-1 for NaN) */
  int32_t row;
} Norm;

static int by_norm(const void *a, const void *b) {
  const Norm *x = a, *y = b;
  if (x->q != y->q) return x->q > y->q ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

int rt_retrieve_topk(const float *users, int64_t n, int64_t dim, const float *table, int64_t lo,
                     int64_t hi, int k, int nthreads, int32_t *rows, float *scores, RtError *err) {
  if (k < 1 || n < 1) return 0;
  if (hi < lo) hi = lo;
  int64_t ntiles = (hi - lo + TILE - 1) / TILE;
  size_t np = (size_t)(ntiles ? ntiles : 1) * (size_t)dim * TILE;
  size_t ncols = (size_t)(ntiles ? ntiles : 1) * TILE;
  float *packed = aligned_alloc(64, (np * sizeof(float) + 63) / 64 * 64);
  Norm *byn = malloc(ncols * sizeof *byn);
  int32_t *order = malloc(ncols * sizeof *order);
  if (!packed || !byn || !order) {
    free(packed);
    free(byn);
    free(order);
    return rt_error(err, "out of memory packing %lld items", (long long)(hi - lo));
  }
  /* the largest rows first: they tend to score highest, so the heaps fill
   * with good scores early and later rows are rejected by the threshold */
  for (int64_t r = lo; r < hi; r++) {
    double q = 0;
    for (int64_t p = 0; p < dim; p++) q += (double)table[r * dim + p] * table[r * dim + p];
    byn[r - lo] = (Norm){isnan(q) ? -1.0 : q, (int32_t)r};
  }
  qsort(byn, (size_t)(hi - lo), sizeof *byn, by_norm);
  for (int64_t t = 0; t < ntiles; t++) {
    float *T = packed + t * dim * TILE;
    for (int c = 0; c < TILE; c++) {
      int64_t i = t * TILE + c;
      order[i] = i < hi - lo ? byn[i].row : -1;
      for (int64_t p = 0; p < dim; p++)
        T[p * TILE + c] = i < hi - lo ? table[(int64_t)order[i] * dim + p] : 0.0f;
    }
  }
  free(byn);
  Job j = {.users = users, .packed = packed, .order = order, .n = n, .dim = dim, .lo = lo, .hi = hi,
           .ntiles = ntiles, .nblocks = (n + BLOCK - 1) / BLOCK, .k = k, .rows = rows,
           .scores = scores, .kernel = pick_kernel()};
  atomic_init(&j.next, 0);
  atomic_init(&j.failed, 0);
  if (nthreads > j.nblocks) nthreads = (int)j.nblocks;
  if (nthreads > 64) nthreads = 64;
  pthread_t th[64];
  int started = 0;
  for (int t = 1; t < nthreads; t++) {
    if (pthread_create(&th[t], NULL, run_blocks, &j)) break;
    started = t;
  }
  run_blocks(&j);
  for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
  free(packed);
  free(order);
  if (atomic_load(&j.failed)) return rt_error(err, "out of memory scoring items");
  return 0;
}

/* ---- the model's items, recall ---- */

void rt_retrieval_of(const DmcModel *m, const RtEncoder *e, const float *w, RtRetrieval *r) {
  const DmcParam *t = &m->params[m->retrieve_table];
  r->output = m->retrieve_output;
  r->target = m->retrieve_target;
  r->table = w + t->offset;
  r->dim = t->shape[1];
  r->vocab = e->groups[e->group[r->target]].v;
  int64_t len = rt_vocab_len(r->vocab);
  r->lo = 2;
  r->hi = len < t->shape[0] ? len : t->shape[0];
  if (r->hi < r->lo) r->hi = r->lo;
}

void rt_recall(const int32_t *top, int64_t n, int stride, int k, const int32_t *target,
               RtRecall *r) {
  memset(r, 0, sizeof *r);
  r->k = k;
  for (int64_t i = 0; i < n; i++) {
    int32_t y = target[i];
    if (y == RT_VOCAB_PAD) continue;
    r->rows++;
    if (y == RT_VOCAB_OOV) {
      r->oov++;
      continue;
    }
    const int32_t *t = top + i * stride;
    for (int j = 0; j < stride; j++)
      if (t[j] == y) {
        r->hits += j < k;
        r->hits10 += j < 10;
        break;
      }
  }
  r->recall = r->rows ? (double)r->hits / (double)r->rows : NAN;
  r->recall10 = r->rows && stride >= 10 ? (double)r->hits10 / (double)r->rows : NAN;
}

int rt_retrieval_recall(const RtRetrieval *rv, const RtData *d, const float *users, int k,
                        int nthreads, RtRecall *r, RtError *err) {
  int kk = k > 10 ? k : 10;
  int32_t *top = malloc((size_t)(d->n ? d->n : 1) * (size_t)kk * sizeof *top);
  if (!top) return rt_error(err, "out of memory for %lld x %d retrieved items", (long long)d->n, kk);
  if (rt_retrieve_topk(users, d->n, rv->dim, rv->table, rv->lo, rv->hi, kk, nthreads, top, NULL,
                       err)) {
    free(top);
    return -1;
  }
  rt_recall(top, d->n, kk, k, d->ids[rv->target], r);
  free(top);
  return 0;
}
