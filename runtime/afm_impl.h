// afm_impl.h: AFM's attention pooling, one kernel per pass (included by
// kernels_impl.h with REAL and K_ defined). Composed of its ops, the pairs' products
// [P, k], their attention layer [P, t], its relu and the scores each made a pass
// through memory: criteo_afm spent 3.8-4.0 us an example in them at batch 1024.
//
// DMC_OP_AFM_POOL (e [f, k], W [k, t], b [t], h [t]) -> y [k], per example, over the
// P = f(f-1)/2 pairs p = (i, j), i < j, in triu's order:
//   x_p = e_i * e_j   z_p = x_p W + b   s_p = h . relu(z_p)   a = softmax(s)
//   y = sum_p a_p x_p
// DMC_OP_AFM_POOL_GRAD (e, W, b, h, dy [k]) -> [de (f k) | dW (k t) | db (t) | dh (t)]
// per example; the graph sums W's, b's and h's over the batch, so a group's (below)
// are in its first example's row and zero in the others'. It recomputes the
// forward: nothing is stored between the passes.
// Both run transposed: the products of a group of examples' pairs side by side as
// columns of X^T [k, n], built from each e^T a run at a time (entry i of a row of e^T
// times its entries after i); Z^T = W^T X^T is one GEMM; every per-pair loop runs
// along the columns in vectors. A group is as many whole examples as fit C columns
// (ex:afm's 15 pairs: 33 examples; a GEMM per example cost more than the old ops),
// or one example in chunks of C (more than C pairs).

// A group's pass: C columns a chunk, X^T's and Z^T's rows ld apart (C and 16 of
// padding), e^T's rows fs apart (f and at least 16 zeros), an example's e^T ets
// apart, G examples a group.
typedef struct {
  int64_t f, k, t, P, C, ld, fs, ets, G;
  const REAL *W, *b, *h;
} K_(Afm);

KSTATIC K_(Afm) K_(afm_shape)(const DmcKernel *kn, const void *const *in) {
  K_(Afm) a;
  a.f = kn->in[0].dim[0], a.k = kn->in[0].dim[1], a.t = kn->in[1].dim[1], a.P = a.f * (a.f - 1) / 2;
  int64_t wide = a.k > a.t ? a.k : a.t;
  a.C = (DMC_AFM_BUF / wide - 16) / 16 * 16;   // (C + 16) wide values fit DMC_AFM_BUF
  a.fs = (a.f + 15) / 16 * 16 + 16;
  a.ets = a.k * a.fs;
  a.G = a.P > a.C ? 1 : a.C / a.P;
  if (a.G > 2 * DMC_AFM_BUF / a.ets) a.G = 2 * DMC_AFM_BUF / a.ets;   // (ir.c: at least 1)
  if (a.G * a.P < a.C) a.C = (a.G * a.P + 15) / 16 * 16;
  a.ld = a.C + 16;
  a.W = K_(real)(in, 1), a.b = K_(real)(in, 2), a.h = K_(real)(in, 3);
  return a;
}

// Pair p0 of f rows in triu's order: (*i, *j).
KSTATIC void K_(afm_pair_at)(int64_t f, int64_t p0, int64_t *i, int64_t *j) {
  int64_t start = 0;   // row *i's pairs start at `start`
  for (*i = 0; start + (f - 1 - *i) <= p0; (*i)++) start += f - 1 - *i;
  *j = *i + 1 + (p0 - start);
}

// Pairs p0..p0+n-1 of one example's e^T into X^T's columns from xt, a run at a time:
// row c's entry i times its entries j.. (pairs (i, j), (i, j + 1), ..). In whole
// vectors: a run's last one reads e^T's zeros after f and writes past the run,
// where the next run (or the next example's, or the rows' padding) goes.
KSTATIC void K_(afm_pairs)(const K_(Afm) *a, const REAL *et, int64_t p0, int64_t n, REAL *xt) {
  int64_t f = a->f, i, j;
  K_(afm_pair_at)(f, p0, &i, &j);
  for (int64_t q = 0; q < n; i++, j = i + 1) {
    int64_t len = f - j < n - q ? f - j : n - q;
    for (int64_t c = 0; c < a->k; c++) {
      const REAL *r = et + c * a->fs;
      REAL *d = xt + c * a->ld + q;
      K_(vec) v = (K_(vec)){0} + r[i];
      for (int64_t l = 0; l < len; l += K_LANES) *(K_(uvec) *)(d + l) = v * *(const K_(uvec) *)(r + j + l);
    }
    q += len;
  }
}

// de += an example's dX rows (pairs p0.., n of them, from dx, rows of k): de_i +=
// dx_p e_j and de_j += dx_p e_i, in rows (transposed, de_i's sum over a run was a
// sum across a vector per run and row of e^T: ex:afm's runs of 1-5 pairs).
KSTATIC void K_(afm_pairs_grad)(const K_(Afm) *a, const REAL *e, int64_t p0, int64_t n, const REAL *dx, REAL *de) {
  int64_t f = a->f, k = a->k, i, j;
  K_(afm_pair_at)(f, p0, &i, &j);
  for (int64_t q = 0; q < n; i++, j = i + 1) {
    int64_t len = f - j < n - q ? f - j : n - q;
    REAL *restrict di = de + i * k;
    const REAL *restrict ei = e + i * k;
    if (k % K_LANES == 0)   // de_i a vector at a time in a register across the run
      for (int64_t c = 0; c < k; c += K_LANES) {
        K_(vec) acc = *(K_(uvec) *)(di + c), vi = *(const K_(uvec) *)(ei + c);
        for (int64_t l = 0; l < len; l++) {
          K_(vec) dv = *(const K_(uvec) *)(dx + (q + l) * k + c);
          acc += dv * *(const K_(uvec) *)(e + (j + l) * k + c);
          *(K_(uvec) *)(de + (j + l) * k + c) += dv * vi;
        }
        *(K_(uvec) *)(di + c) = acc;
      }
    else
      for (int64_t l = 0; l < len; l++) {
        const REAL *restrict d = dx + (q + l) * k, *restrict ej = e + (j + l) * k;
        REAL *restrict dj = de + (j + l) * k;
        for (int64_t c = 0; c < k; c++) di[c] += d[c] * ej[c], dj[c] += d[c] * ei[c];
      }
    q += len;
  }
}

// d[0..n) += a x[0..n), and s[0..n) += h relu(z[0..n) + b): apart, so that they vectorize
static inline void K_(axpy)(REAL *restrict d, const REAL *restrict x, REAL a, int64_t n) {
  for (int64_t q = 0; q < n; q++) d[q] += a * x[q];
}
static inline void K_(afm_scores)(REAL *restrict s, const REAL *restrict z, REAL b, REAL h, int64_t n) {
  for (int64_t q = 0; q < n; q++) {
    REAL r = z[q] + b;
    s[q] += h * (r > 0 ? r : 0);
  }
}

// Walks the examples' runs of a group's columns c0..c0+n-1: example m, its pairs
// p.. (len of them) at column offset q of the chunk.
#define K_AFM_RUNS(a, c0, n, BODY)                                                     \
  for (int64_t q = 0; q < (n);) {                                                     \
    int64_t m = ((c0) + q) / (a)->P, p = ((c0) + q) % (a)->P;                         \
    int64_t len = (a)->P - p < (n) - q ? (a)->P - p : (n) - q;                        \
    BODY;                                                                             \
    q += len;                                                                         \
  }

// A chunk's X^T and Z^T (before b); the scores s of its columns; and, with dy (the
// group's examples' [k] rows), their da = dy . x_p.
KSTATIC void K_(afm_chunk)(const K_(Afm) *a, const REAL *et, int64_t c0, int64_t n, REAL *xt, REAL *zt, REAL *s,
                           const REAL *dy, REAL *da) {
  K_AFM_RUNS(a, c0, n, K_(afm_pairs)(a, et + m * a->ets, p, len, xt + q));
  // Z^T [t, n] = W^T [t, k] X^T [k, n]: W^T's element (j, c) at W[c * t + j]
  K_(gemm)(a->t, n, a->k, a->W, 1, a->t, xt, a->ld, 1, zt, a->ld, 0);
  if (!s) return;
  for (int64_t q = 0; q < n; q++) s[q] = 0;
  for (int64_t j = 0; j < a->t; j++) K_(afm_scores)(s, zt + j * a->ld, a->b[j], a->h[j], n);
  if (!dy) return;
  for (int64_t q = 0; q < n; q++) da[q] = 0;
  K_AFM_RUNS(a, c0, n, for (int64_t c = 0; c < a->k; c++) K_(axpy)(da + q, xt + c * a->ld + q, dy[m * a->k + c], len));
}

// y = sum_p w_p e_i e_j of one example (e [f, k]) as sum_i e_i (sum_{j > i} w_ij e_j),
// in rows, for fewer pairs than dot_run's lanes take: k dot products of P columns of
// X^T would each be a serial sum (ex:afm's 15 pairs: batch-1024 inference 3.27 ->
// 3.50M rows/s); with more pairs those are faster (criteo_afm's 325: 459k against 382k)
KSTATIC void K_(afm_weighted)(const K_(Afm) *a, const REAL *e, const REAL *w, REAL *restrict y) {
  REAL acc[DMC_AFM_MAX_KT];
  int64_t k = a->k;
  for (int64_t c = 0; c < k; c++) y[c] = 0;
  for (int64_t i = 0, p = 0; i < a->f - 1; i++) {
    for (int64_t c = 0; c < k; c++) acc[c] = 0;
    for (int64_t j = i + 1; j < a->f; j++, p++) K_(axpy)(acc, e + j * k, w[p], k);
    for (int64_t c = 0; c < k; c++) y[c] += e[i * k + c] * acc[c];
  }
}

// e^T [k, fs] of the group's examples, zeros after f in each row
KSTATIC void K_(afm_transpose)(const K_(Afm) *a, const REAL *e, int64_t g, REAL *et) {
  memset(et, 0, sizeof(REAL) * (size_t)(g * a->ets));
  for (int64_t m = 0; m < g; m++)
    for (int64_t i = 0; i < a->f; i++)
      for (int64_t c = 0; c < a->k; c++) et[m * a->ets + c * a->fs + i] = e[(m * a->f + i) * a->k + c];
}

KSTATIC void K_(afm_pool)(const DmcKernel *kn, int B, REAL *out, const void *const *in) {
  K_(Afm) a = K_(afm_shape)(kn, in);
  const REAL *e = K_(real)(in, 0);
  int64_t os = kn->ostride ? kn->ostride : a.k, xn = a.f * a.k;
  REAL et[2 * DMC_AFM_BUF], xt[DMC_AFM_BUF], zt[DMC_AFM_BUF], s[DMC_AFM_MAX_F * DMC_AFM_MAX_F / 2],
      w[DMC_AFM_MAX_F * DMC_AFM_MAX_F / 2];
  for (int64_t b = 0; b < B; b += a.G) {
    int64_t g = B - b < a.G ? B - b : a.G, cols = g * a.P;
    K_(afm_transpose)(&a, e + b * xn, g, et);
    for (int64_t c0 = 0; c0 < cols; c0 += a.C)
      K_(afm_chunk)(&a, et, c0, cols - c0 < a.C ? cols - c0 : a.C, xt, zt, s + c0, NULL, NULL);
    for (int64_t m = 0; m < g; m++) {
      K_(softmax_row)(s + m * a.P, w + m * a.P, a.P);
      if (a.P < 2 * K_SUM_LANES) K_(afm_weighted)(&a, e + (b + m) * xn, w + m * a.P, out + (b + m) * os);
    }
    if (a.P < 2 * K_SUM_LANES) continue;
    for (int64_t m = 0; m < g; m++)
      for (int64_t c = 0; c < a.k; c++) out[(b + m) * os + c] = 0;
    for (int64_t c0 = 0; c0 < cols; c0 += a.C) {   // y = X a: the last chunk's X^T is still there
      int64_t n = cols - c0 < a.C ? cols - c0 : a.C;
      if (cols > a.C) K_AFM_RUNS(&a, c0, n, K_(afm_pairs)(&a, et + m * a.ets, p, len, xt + q));
      K_AFM_RUNS(&a, c0, n, for (int64_t c = 0; c < a.k; c++) out[(b + m) * os + c] +=
                                K_(dot_run)(w + c0 + q, xt + c * a.ld + q, len));
    }
  }
}

KSTATIC void K_(afm_pool_grad)(const DmcKernel *kn, int B, REAL *out, const void *const *in) {
  K_(Afm) a = K_(afm_shape)(kn, in);
  const REAL *e = K_(real)(in, 0), *dy = K_(real)(in, 4);
  int64_t xn = a.f * a.k, row = xn + a.k * a.t + 2 * a.t, os = kn->ostride ? kn->ostride : row, ld = a.ld;
  REAL et[2 * DMC_AFM_BUF], xt[DMC_AFM_BUF], zt[DMC_AFM_BUF], dz[DMC_AFM_BUF], dx[DMC_AFM_BUF];
  REAL s[DMC_AFM_MAX_F * DMC_AFM_MAX_F / 2], w[DMC_AFM_MAX_F * DMC_AFM_MAX_F / 2], ds[DMC_AFM_MAX_F * DMC_AFM_MAX_F / 2];
  for (int64_t b = 0; b < B; b += a.G) {
    int64_t g = B - b < a.G ? B - b : a.G, cols = g * a.P;
    const REAL *dyb = dy + b * a.k;
    REAL *dW = out + b * os + xn, *db = dW + a.k * a.t, *dh = db + a.t;   // the group's, in its first row
    K_(afm_transpose)(&a, e + b * xn, g, et);
    for (int64_t c0 = 0; c0 < cols; c0 += a.C)
      K_(afm_chunk)(&a, et, c0, cols - c0 < a.C ? cols - c0 : a.C, xt, zt, s + c0, dyb, ds + c0);
    for (int64_t m = 0; m < g; m++) {   // a = softmax(s); ds = a (da - a . da)
      REAL *sm = s + m * a.P, *wm = w + m * a.P, *dm = ds + m * a.P;
      K_(softmax_row)(sm, wm, a.P);
      REAL dot = K_(dot_run)(wm, dm, a.P);
      for (int64_t p = 0; p < a.P; p++) dm[p] = wm[p] * (dm[p] - dot);
      memset(out + (b + m) * os, 0, sizeof(REAL) * (size_t)row);
    }
    for (int64_t c0 = 0; c0 < cols; c0 += a.C) {
      int64_t n = cols - c0 < a.C ? cols - c0 : a.C;
      if (cols > a.C) K_(afm_chunk)(&a, et, c0, n, xt, zt, NULL, NULL, NULL);   // (else still there)
      const REAL *dsc = ds + c0;
      // dz_p = ds_p h (z_p > 0); dh = sum_p ds_p relu(z_p); db = sum_p dz_p
      for (int64_t j = 0; j < a.t; j++) {
        const REAL *z = zt + j * ld;
        REAL *d = dz + j * ld, bj = a.b[j], hj = a.h[j], lh[K_SUM_LANES] = {0}, lb[K_SUM_LANES] = {0};
        int64_t q = 0;
        for (; q + K_SUM_LANES <= n; q += K_SUM_LANES)   // (selects, not branches: it vectorizes)
          for (int l = 0; l < K_SUM_LANES; l++) {
            REAL r = z[q + l] + bj, gv = dsc[q + l] * hj, rp = r > 0 ? r : 0, dzv = r > 0 ? gv : 0;
            d[q + l] = dzv;
            lh[l] += dsc[q + l] * rp;
            lb[l] += dzv;
          }
        for (; q < n; q++) {
          REAL r = z[q] + bj, gv = dsc[q] * hj, rp = r > 0 ? r : 0, dzv = r > 0 ? gv : 0;
          d[q] = dzv;
          lh[0] += dsc[q] * rp;
          lb[0] += dzv;
        }
        for (int l = 0; l < K_SUM_LANES; l++) dh[j] += lh[l], db[j] += lb[l];
      }
      // dW [k, t] += X^T dZ (dZ^T's element (q, j) at dz[j * ld + q]); dX [n, k] = dZ W^T + a dy
      K_(gemm)(a.k, a.t, n, xt, ld, 1, dz, 1, ld, dW, a.t, 1);
      K_(gemm)(n, a.k, a.t, dz, 1, ld, a.W, 1, a.t, dx, a.k, 0);
      K_AFM_RUNS(&a, c0, n, for (int64_t l = 0; l < len; l++) K_(axpy)(dx + (q + l) * a.k, dyb + m * a.k, w[c0 + q + l], a.k));
      K_AFM_RUNS(&a, c0, n, K_(afm_pairs_grad)(&a, e + (b + m) * xn, p, len, dx + q * a.k, out + (b + m) * os));
    }
  }
}
