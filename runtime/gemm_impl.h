// gemm_impl.h: the GEMM every matmul kernel and the head of fused kernels run,
// included by kernels_impl.h (so compiled in float for the runtime and in double
// for the interpreter, with its REAL, K_ and KSTATIC).
// C[M, N] = (C +) A[M, K] W[K, N], with A's element (r, p) at A[r * ars + p * acs]
// (so a transposed A costs nothing). A register-blocked micro-kernel: a tile of
// up to K_MR rows by up to 4 vectors of columns (64 floats with AVX-512) keeps
// its sums in registers while K runs; each step loads the tile's W row once and
// broadcasts one A value per row. K is cut into K_KC-long blocks so the W panel a
// block reads stays in L1 while every row block uses it. Vectors are GCC/Clang
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

// Every R (1..K_MR) as its own constant-bound copy of the tile.
#define K_TILE_V(V)                                                                                   \
  switch (rn) {                                                                                      \
  case 6: K_(tile)(6, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                   \
  case 5: K_(tile)(5, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                   \
  case 4: K_(tile)(4, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                   \
  case 3: K_(tile)(3, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                   \
  case 2: K_(tile)(2, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                   \
  default: K_(tile)(1, V, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load); break;                  \
  }

KSTATIC void K_(gemm)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                      int64_t ldw, REAL *C, int64_t ldc, int accumulate) {
  int64_t nvec = N / K_LANES, jv = nvec * K_LANES;   // columns in whole vectors; the rest is scalar
  if (Kd == 0 && !accumulate)
    for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, sizeof(REAL) * (size_t)N);
  for (int64_t k0 = 0; k0 < Kd; k0 += K_KC) {
    int64_t k1 = Kd - k0 < K_KC ? Kd : k0 + K_KC;
    int load = accumulate || k0 > 0;
    int64_t mfull = M % K_MR == 1 ? M - 1 : M;   // rows for the K_MR-row tiles
    if (mfull < M)   // a single row left (batch 1): wide tiles, so 16 sums are in flight, not 4
      for (int64_t j0 = 0; j0 < jv;) {
        int64_t r0 = M - 1, left = (jv - j0) / K_LANES;
        int v = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : (int)left;
        if (v == 16) K_(tile)(1, 16, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        else if (v == 8) K_(tile)(1, 8, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        else if (v == 4) K_(tile)(1, 4, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        else if (v == 3) K_(tile)(1, 3, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        else if (v == 2) K_(tile)(1, 2, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        else K_(tile)(1, 1, r0, j0, k0, k1, A, ars, acs, W, ldw, C, ldc, load);
        j0 += v * K_LANES;
      }
    for (int64_t j0 = 0; j0 < jv; j0 += 4 * K_LANES) {
      int64_t left = (jv - j0) / K_LANES;
      for (int64_t r0 = 0; r0 < mfull; r0 += K_MR) {
        int rn = mfull - r0 < K_MR ? (int)(mfull - r0) : K_MR;
        if (left >= 4) { K_TILE_V(4) }
        else if (left == 3) { K_TILE_V(3) }
        else if (left == 2) { K_TILE_V(2) }
        else { K_TILE_V(1) }
      }
    }
    if (jv < N && N - jv <= 2 && acs == 1) {   // one or two columns left (a logit): dot products
      REAL wc[K_KC];
      for (int64_t j = jv; j < N; j++) {
        for (int64_t p = k0; p < k1; p++) wc[p - k0] = W[p * ldw + j];
        for (int64_t r = 0; r < M; r++) {
          const REAL *ar = A + r * ars + k0;
          K_(vec) acc = {0};
          int64_t p = 0, kn = k1 - k0;
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
      for (int64_t p = k0; p < k1; p++)
        for (int64_t c = 0; c < K_LANES; c++) wt[(p - k0) * K_LANES + c] = c < tn ? W[p * ldw + jv + c] : 0;
      for (int64_t r0 = 0; r0 < M; r0 += K_MR) {
        int rn = M - r0 < K_MR ? (int)(M - r0) : K_MR;
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < K_LANES; c++) ct[i * K_LANES + c] = load && c < tn ? C[(r0 + i) * ldc + jv + c] : 0;
        // the tile on A's rows r0.. from column k0, the packed panel and the staging rows
        const REAL *Ar = A + r0 * ars + k0 * acs, *Wr = wt;
        int64_t kn = k1 - k0;
        switch (rn) {
        case 6: K_(tile)(6, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        case 5: K_(tile)(5, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        case 4: K_(tile)(4, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        case 3: K_(tile)(3, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        case 2: K_(tile)(2, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        default: K_(tile)(1, 1, 0, 0, 0, kn, Ar, ars, acs, Wr, K_LANES, ct, K_LANES, 1); break;
        }
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < tn; c++) C[(r0 + i) * ldc + jv + c] = ct[i * K_LANES + c];
      }
    }
  }
}
#undef K_TILE_V
