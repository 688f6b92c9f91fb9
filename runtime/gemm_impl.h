// gemm_impl.h: the GEMM every matmul kernel and the head of fused kernels run,
// included by kernels_impl.h (so compiled in float for the runtime and in double
// for the interpreter, with its REAL, K_ and KSTATIC).
// C[M, N] = (C +) A[M, K] W[K, N], with A's element (r, p) at A[r * ars + p * acs]
// (so a transposed A costs nothing). A register-blocked micro-kernel: a tile of
// up to K_MR rows by up to 4 vectors of columns (64 floats with AVX-512) keeps
// its sums in registers while K runs; each step loads the tile's W row once and
// broadcasts one A value per row. K is cut into K_KC-long blocks; a block's W panel
// (K_KC x 64 floats, L2-resident) serves every row block, read from W in place or,
// when W's rows are not whole cache lines or W is transposed, from a packed copy
// (see K_(gemm)). A is not packed: its broadcasts are a small share of the loads,
// and measured, a KC of 128 (a panel in L1) was no faster. Vectors are GCC/Clang
// vector extensions, so -march=native picks the instructions (AVX-512, AVX2, or
// SSE for --portable); the columns past the last whole vector are packed, zero-
// padded, into one vector-wide panel and run through the same tile.
#define K_MR 6
#define K_KC 256
#define K_LANES (64 / (int)sizeof(REAL))
typedef REAL K_(vec) __attribute__((vector_size(64)));
typedef REAL K_(uvec) __attribute__((vector_size(64), aligned(sizeof(REAL))));   // unaligned access

// The tile at rows r0.. (R of them), vectors at column j0 (V of them), k in [k0, k1).
static inline __attribute__((always_inline)) void K_(tile)(int R, int V, int64_t r0, int64_t j0, int64_t k0, int64_t k1,
                                                          const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                                                          int64_t ldw, REAL *C, int64_t ldc, int load) {
  K_(vec) acc[K_MR][16];
  for (int i = 0; i < R; i++)
    for (int v = 0; v < V; v++)
      if (load) acc[i][v] = *(const K_(uvec) *)(C + (r0 + i) * ldc + j0 + v * K_LANES);
      else acc[i][v] = (K_(vec)){0};
  for (int64_t p = k0; p < k1; p++) {
    const REAL *wr = W + p * ldw + j0;
    K_(vec) w[16];
    for (int v = 0; v < V; v++) w[v] = *(const K_(uvec) *)(wr + v * K_LANES);
    for (int i = 0; i < R; i++) {
      REAL a = A[(r0 + i) * ars + p * acs];
      for (int v = 0; v < V; v++) acc[i][v] += a * w[v];
    }
  }
  for (int i = 0; i < R; i++)
    for (int v = 0; v < V; v++) *(K_(uvec) *)(C + (r0 + i) * ldc + j0 + v * K_LANES) = acc[i][v];
}

// W's block of rows [k0, k1) and columns [j0, j0 + n), W's element (p, j) at
// W[p * wrs + j * wcs], into wp as contiguous rows `width` long, zero past n.
KSTATIC void K_(pack)(const REAL *W, int64_t wrs, int64_t wcs, int64_t k0, int64_t k1, int64_t j0, int64_t n,
                      int64_t width, REAL *wp) {
  int64_t kn = k1 - k0;
  if (wcs == 1)
    for (int64_t p = 0; p < kn; p++) {   // inline vector copies: a memcpy call per row costs as much as the row
      const REAL *src = W + (k0 + p) * wrs + j0;
      REAL *dst = wp + p * width;
      int64_t c = 0;
      for (; c + K_LANES <= n; c += K_LANES) *(K_(uvec) *)(dst + c) = *(const K_(uvec) *)(src + c);
      for (; c < width; c++) dst[c] = c < n ? src[c] : 0;
    }
  else   // W transposed (matmul_nt): a panel row gathers one K step of 64 columns,
         // whose lines stay in L1 for the next steps (packing column by column made
         // the 256x400x400 GEMM 1.3x slower)
    for (int64_t p = 0; p < kn; p++) {
      const REAL *src = W + (k0 + p) * wrs + j0 * wcs;
      REAL *dst = wp + p * width;
      for (int64_t c = 0; c < n; c++) dst[c] = src[c * wcs];
      for (int64_t c = n; c < width; c++) dst[c] = 0;
    }
}

// Every R (1..K_MR) as its own constant-bound copy of the tile, on A from column
// k0 (Ak), the panel Wp (row length lw) and C from column j0 (Cj).
#define K_TILE_V(V)                                                                                   \
  switch (rn) {                                                                                      \
  case 6: K_(tile)(6, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                   \
  case 5: K_(tile)(5, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                   \
  case 4: K_(tile)(4, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                   \
  case 3: K_(tile)(3, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                   \
  case 2: K_(tile)(2, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                   \
  default: K_(tile)(1, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, Cj, ldc, load); break;                  \
  }

// The panel a K block packs W into, per thread (pool threads run kernels at once).
static _Thread_local K_(vec) K_(wpanel)[K_KC * 4];

// W's element (p, j) is at W[p * wrs + j * wcs]: wcs == 1 is a plain W, wrs == 1
// a transposed one (matmul_nt).
KSTATIC void K_(gemm)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                      int64_t wrs, int64_t wcs, REAL *C, int64_t ldc, int accumulate) {
  int64_t nvec = N / K_LANES, jv = nvec * K_LANES;   // columns in whole vectors; the rest is scalar
  // batch 1 streams each weight once from W itself. Other rows read W in panels
  // packed per K block, contiguous and aligned, when W is transposed or its rows
  // are not whole cache lines (a load across two lines costs two; parameters sit
  // at any offset): for 12 rows and more that pays for the copy.
  int stream = M == 1 && wcs == 1;
  int pack = !stream && (wcs != 1 || (M >= 2 * K_MR && ((uintptr_t)W % 64 || wrs * sizeof(REAL) % 64)));
  if (Kd == 0 && !accumulate)
    for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, sizeof(REAL) * (size_t)N);
  for (int64_t k0 = 0; k0 < Kd; k0 += K_KC) {
    int64_t k1 = Kd - k0 < K_KC ? Kd : k0 + K_KC, kn = k1 - k0;
    int load = accumulate || k0 > 0;
    const REAL *Ak = A + k0 * acs;
    if (stream)   // wide tiles, so 16 sums are in flight, not 4
      for (int64_t j0 = 0; j0 < jv;) {
        int64_t left = (jv - j0) / K_LANES;
        int v = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : (int)left;
        if (v == 16) K_(tile)(1, 16, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        else if (v == 8) K_(tile)(1, 8, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        else if (v == 4) K_(tile)(1, 4, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        else if (v == 3) K_(tile)(1, 3, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        else if (v == 2) K_(tile)(1, 2, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        else K_(tile)(1, 1, 0, j0, k0, k1, A, ars, acs, W, wrs, C, ldc, load);
        j0 += v * K_LANES;
      }
    else
      for (int64_t j0 = 0; j0 < jv; j0 += 4 * K_LANES) {
        int64_t left = (jv - j0) / K_LANES, lw = left >= 4 ? 4 * K_LANES : left * K_LANES;
        const REAL *Wp = W + k0 * wrs + j0;
        REAL *Cj = C + j0;
        if (pack) {
          K_(pack)(W, wrs, wcs, k0, k1, j0, lw, lw, (REAL *)K_(wpanel));
          Wp = (const REAL *)K_(wpanel);
        } else lw = wrs;
        for (int64_t r0 = 0; r0 < M; r0 += K_MR) {
          int rn = M - r0 < K_MR ? (int)(M - r0) : K_MR;
          if (left >= 4) { K_TILE_V(4) }
          else if (left == 3) { K_TILE_V(3) }
          else if (left == 2) { K_TILE_V(2) }
          else { K_TILE_V(1) }
        }
      }
    if (jv < N && N - jv <= 2 && acs == 1) {   // one or two columns left (a logit): dot products
      REAL wc[K_KC];
      for (int64_t j = jv; j < N; j++) {
        for (int64_t p = k0; p < k1; p++) wc[p - k0] = W[p * wrs + j * wcs];
        for (int64_t r = 0; r < M; r++) {
          const REAL *ar = Ak + r * ars;
          K_(vec) acc = {0};
          int64_t p = 0;
          for (; p + K_LANES <= kn; p += K_LANES) acc += *(const K_(uvec) *)(ar + p) * *(const K_(uvec) *)(wc + p);
          REAL sum = load ? C[r * ldc + j] : 0;
          for (int l = 0; l < K_LANES; l++) sum += acc[l];
          for (; p < kn; p++) sum += ar[p] * wc[p];
          C[r * ldc + j] = sum;
        }
      }
    } else if (jv < N) {   // the columns past the last whole vector: one vector, zero-padded
      int64_t tn = N - jv;
      REAL wt[K_KC * K_LANES], ct[K_MR * K_LANES];
      K_(pack)(W, wrs, wcs, k0, k1, jv, tn, K_LANES, wt);
      for (int64_t r0 = 0; r0 < M; r0 += K_MR) {
        int rn = M - r0 < K_MR ? (int)(M - r0) : K_MR;
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < K_LANES; c++) ct[i * K_LANES + c] = load && c < tn ? C[(r0 + i) * ldc + jv + c] : 0;
        // the tile on A's rows r0.. from column k0, the packed panel and the staging rows
        const REAL *Ar = Ak + r0 * ars;
        switch (rn) {
        case 6: K_(tile)(6, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        case 5: K_(tile)(5, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        case 4: K_(tile)(4, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        case 3: K_(tile)(3, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        case 2: K_(tile)(2, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        default: K_(tile)(1, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, ct, K_LANES, 1); break;
        }
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < tn; c++) C[(r0 + i) * ldc + jv + c] = ct[i * K_LANES + c];
      }
    }
  }
}
#undef K_TILE_V
