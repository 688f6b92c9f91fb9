// rnn_impl.h: the (AU)GRU recurrence, every step of a sequence in one kernel call
// (included by kernels_impl.h with REAL and K_ defined). Unrolled into one kernel
// per gate and step, a 50-step GRU was ~300 calls and as many round trips through
// memory; here the state of a block of examples stays in cache from step to step,
// and the recurrent products of the block are one GEMM per step.
//
// DMC_OP_GRU (x [t, 3n], a [t], m [t], U [n, 3n]) -> h [t, n], per example, h_0 = 0,
// steps s = 0..t-1 (t-1..0 when k->axis, "reverse"), hp the state before step s:
//   [gu | gr | q] = hp @ U                 (U = [Uu | Ur | Uc], x[s] = [xu | xr | xc])
//   u = a[s] sigmoid(xu + gu)   r = sigmoid(xr + gr)   c = tanh(xc + r q)
//   h[s] = m[s] ((1 - u) hp + u c) + (1 - m[s]) hp
// A step with m == 0 (padding) carries hp without computing the gates.
//
// DMC_OP_GRU_GRAD (x, a, m, U, h, dh) -> [t, DMC_GRU_ROW(n)], per step, the
// gradients of the pre-activations [dzu | dzr | dzc] (= dx[s]), again [dzu | dzr |
// dq] (the rows whose product with hp^T is U's gradient: one GEMM over the batch),
// hp, and da[s], each part from a multiple of 16 floats (kernels.h), zeros between.
// It walks the steps backwards recomputing each step's gates from h (no gate is
// stored by the forward), carrying dL/dhp to the step before with one GEMM by U^T
// per step (the GEMM reads U transposed in place).

// Rows of a block: its buffer (rows x 4n: the gates and hp) fits a fixed stack array.
#define K_RNN_BUF 6144
KSTATIC int K_(rnn_rows)(int n) {
  int r = K_RNN_BUF / (4 * n);
  return r > 32 ? 32 : r < 1 ? 1 : r;
}

// Step i's index in the sequence, in the walking order.
KSTATIC int K_(rnn_at)(int i, int t, int rev) { return rev ? t - 1 - i : i; }

// The gates of one example's step, in place in its row of the block's buffer: zb
// holds [hp Uu | hp Ur | hp Uc | .] and gets [u0 | r | c | hp] (u0 before a's
// scaling; hp is 0 before the first step), q gets hp Uc. Each loop is one op over
// n values, so it vectorizes.
KSTATIC void K_(gru_gates)(int n, const REAL *xb, REAL *zb, const REAL *hp, REAL *q) {
  for (int j = 0; j < 2 * n; j++) zb[j] = K_(sigmoid)(xb[j] + zb[j]);
  for (int j = 0; j < n; j++) q[j] = zb[2 * n + j];
  for (int j = 0; j < n; j++) zb[2 * n + j] = K_(tanh)(xb[2 * n + j] + zb[n + j] * q[j]);
  if (hp) memcpy(zb + 3 * n, hp, sizeof(REAL) * (size_t)n);
  else memset(zb + 3 * n, 0, sizeof(REAL) * (size_t)n);
}

// [hp Uu | hp Ur | hp Uc] of a block's R examples into z (rows of 4n), hp the states
// at step sp (none before the first step).
KSTATIC void K_(gru_products)(int R, int n, const REAL *h, int64_t hn, int sp, const REAL *U, REAL *z) {
  if (sp < 0)
    for (int r = 0; r < R; r++) memset(z + r * 4 * n, 0, sizeof(REAL) * (size_t)(3 * n));
  else K_(gemm)(R, 3 * n, n, h + (int64_t)sp * n, hn, 1, U, 3 * n, 1, z, 4 * n, 0);
}

KSTATIC void K_(gru)(const DmcKernel *k, int B, REAL *out, const void *const *in) {
  int t = k->out.dim[0], n = k->out.dim[1], rev = k->axis, n3 = 3 * n, n4 = 4 * n;
  const REAL *x = K_(real)(in, 0), *a = K_(real)(in, 1), *m = K_(real)(in, 2), *U = K_(real)(in, 3);
  int64_t on = (int64_t)t * n, xs = k->in[0].batched ? (int64_t)t * n3 : 0, as = k->in[1].batched ? t : 0,
          ms = k->in[2].batched ? t : 0;
  int ob = k->out.batched ? B : 1, rows = K_(rnn_rows)(n);
  REAL z[K_RNN_BUF];
  for (int b0 = 0; b0 < ob; b0 += rows) {
    int R = ob - b0 < rows ? ob - b0 : rows;
    for (int i = 0; i < t; i++) {
      int s = K_(rnn_at)(i, t, rev), sp = i ? K_(rnn_at)(i - 1, t, rev) : -1;
      K_(gru_products)(R, n, out + b0 * on, on, sp, U, z);
      for (int r = 0; r < R; r++) {
        int64_t b = b0 + r;
        REAL *h = out + b * on + (int64_t)s * n, *zb = z + r * n4;
        const REAL *hp = sp < 0 ? NULL : out + b * on + (int64_t)sp * n, *xb = x + b * xs + (int64_t)s * n3;
        REAL ab = a[b * as + s], mb = m[b * ms + s];
        if (mb == 0) {   // padding: the state goes on unchanged
          for (int j = 0; j < n; j++) h[j] = hp ? hp[j] : 0;
          continue;
        }
        K_(gru_gates)(n, xb, zb, hp, h);   // h: scratch for q until it is written
        for (int j = 0; j < n; j++) {
          REAL p = zb[3 * n + j], u = ab * zb[j];
          h[j] = mb * ((1 - u) * p + u * zb[2 * n + j]) + (1 - mb) * p;
        }
      }
    }
  }
}

// One example's step backwards: from dL/dh[s] (dh + the carry cb) and the gates
// zb = [u0 | r | c | hp] (g's dq slot holding hp Uc), g's row of the result; zb's
// first 3n get [dzu | dzr | dq] for the product by U^T, cb dL/dhp without it.
KSTATIC void K_(gru_back_rows)(int n, REAL ab, REAL mb, const REAL *restrict dh, const REAL *restrict q,
                               REAL *restrict cb, REAL *restrict zb, REAL *restrict dzc) {
  for (int j = 0; j < n; j++) {
    REAL u0 = zb[j], u = ab * u0, rg = zb[n + j], c = zb[2 * n + j], p = zb[3 * n + j];
    REAL d = dh[j] + cb[j], dn = mb * d;   // dL/dh[s], and through the update
    REAL du = dn * (c - p), dc = dn * u * (1 - c * c);
    cb[j] = (1 - mb) * d + dn * (1 - u);
    zb[j] = du * ab * u0 * (1 - u0);
    zb[n + j] = dc * q[j] * rg * (1 - rg);
    zb[2 * n + j] = dc * rg;
    dzc[j] = dc;
  }
}

KSTATIC void K_(gru_back)(int n, REAL ab, REAL mb, const REAL *dh, REAL *cb, REAL *zb, REAL *g) {
  REAL da = 0;
  for (int j = 0; j < n; j++)   // alone: a sum in the loop would keep it from vectorizing
    da += mb * (dh[j] + cb[j]) * (zb[2 * n + j] - zb[3 * n + j]) * zb[j];
  K_(gru_back_rows)(n, ab, mb, dh, g + DMC_GRU_DZQ(n) + 2 * n, cb, zb, g + 2 * n);
  memcpy(g, zb, sizeof(REAL) * (size_t)(2 * n));                   // dzu dzr (dzc is in place)
  memcpy(g + DMC_GRU_DZQ(n), zb, sizeof(REAL) * (size_t)(3 * n));   // dzu dzr dq
  memcpy(g + DMC_GRU_HP(n), zb + 3 * n, sizeof(REAL) * (size_t)n);  // hp
  g[DMC_GRU_DA(n)] = da;
}

// The zeros between a row's parts (and after da).
KSTATIC void K_(gru_pads)(int n, REAL *g) {
  memset(g + 3 * n, 0, sizeof(REAL) * (size_t)(DMC_GRU_DZQ(n) - 3 * n));
  memset(g + DMC_GRU_DZQ(n) + 3 * n, 0, sizeof(REAL) * (size_t)(DMC_GRU_HP(n) - DMC_GRU_DZQ(n) - 3 * n));
  memset(g + DMC_GRU_HP(n) + n, 0, sizeof(REAL) * (size_t)(DMC_GRU_DA(n) - DMC_GRU_HP(n) - n));
  memset(g + DMC_GRU_DA(n) + 1, 0, sizeof(REAL) * 15);
}

KSTATIC void K_(gru_grad)(const DmcKernel *k, int B, REAL *out, const void *const *in) {
  int t = k->in[4].dim[0], n = k->in[4].dim[1], rev = k->axis, n3 = 3 * n, n4 = 4 * n, gw = DMC_GRU_ROW(n);
  const REAL *x = K_(real)(in, 0), *a = K_(real)(in, 1), *m = K_(real)(in, 2), *U = K_(real)(in, 3),
             *hs = K_(real)(in, 4), *dhs = K_(real)(in, 5);
  int64_t hn = (int64_t)t * n, on = (int64_t)t * gw, xs = k->in[0].batched ? (int64_t)t * n3 : 0,
          as = k->in[1].batched ? t : 0, ms = k->in[2].batched ? t : 0, ds = k->in[5].batched ? hn : 0;
  int ob = k->out.batched ? B : 1, rows = K_(rnn_rows)(n);
  REAL z[K_RNN_BUF], carry[K_RNN_BUF];   // the block's gates, then [dzu | dzr | dq]; dL/dh
  for (int b0 = 0; b0 < ob; b0 += rows) {
    int R = ob - b0 < rows ? ob - b0 : rows;
    memset(carry, 0, sizeof(REAL) * (size_t)(R * n));
    for (int i = t - 1; i >= 0; i--) {
      int s = K_(rnn_at)(i, t, rev), sp = i ? K_(rnn_at)(i - 1, t, rev) : -1;
      K_(gru_products)(R, n, hs + b0 * hn, hn, sp, U, z);
      for (int r = 0; r < R; r++) {
        int64_t b = b0 + r;
        const REAL *hp = sp < 0 ? NULL : hs + b * hn + (int64_t)sp * n, *xb = x + b * xs + (int64_t)s * n3,
                   *dh = dhs + b * ds + (int64_t)s * n;
        REAL *g = out + b * on + (int64_t)s * gw, *zb = z + r * n4, *cb = carry + r * n;
        REAL ab = a[b * as + s], mb = m[b * ms + s];
        if (i > 0) {   // the step before's rows of this example: inputs, gradient, result
          int64_t s2 = K_(rnn_at)(i - 1, t, rev);
          K_(prefetch_run)(x + b * xs + s2 * n3, n3, 0);
          K_(prefetch_run)(dhs + b * ds + s2 * n, n, 0);
          K_(prefetch_run)(out + b * on + s2 * gw, gw, 1);
        }
        if (mb == 0) {   // padding: dL/dh passes through to the step before
          for (int j = 0; j < n; j++) cb[j] += dh[j];
          memset(g, 0, sizeof(REAL) * (size_t)gw);
          if (hp) memcpy(g + DMC_GRU_HP(n), hp, sizeof(REAL) * (size_t)n);
          memset(zb, 0, sizeof(REAL) * (size_t)n3);
          continue;
        }
        K_(gru_gates)(n, xb, zb, hp, g + DMC_GRU_DZQ(n) + 2 * n);   // hp Uc where dq goes
        K_(gru_back)(n, ab, mb, dh, cb, zb, g);
        K_(gru_pads)(n, g);
      }
      if (sp >= 0) K_(gemm)(R, n, n3, z, n4, 1, U, 1, n3, carry, n, 1);   // dhp += [dzu | dzr | dq] @ U^T
    }
  }
}
#undef K_RNN_BUF
