// gemm_impl.h: the GEMM every matmul kernel and the head of fused kernels run,
// included by kernels_impl.h (so compiled in float for the runtime and in double
// for the interpreter, with its REAL, K_ and KSTATIC).
// C[M, N] = (C +) A[M, K] W[K, N], with A's element (r, p) at A[r * ars + p * acs]
// (so a transposed A costs nothing). A register-blocked micro-kernel: a tile of
// up to K_MR rows by up to K_VBIG vectors of columns (80 floats with AVX-512) keeps
// its sums in registers while K runs; each step loads the tile's W row once and
// broadcasts one A value per row. K is cut into K_KC-long blocks; a block's W panel
// (K_KC x 80 floats, L2-resident) serves every row block, read from W in place or,
// when W's rows are not whole cache lines or W is transposed, from a packed copy
// (see K_(gemm)). A is not packed: its broadcasts are a small share of the loads,
// and measured, a KC of 128 (a panel in L1) was no faster. Vectors are GCC/Clang
// vector extensions as wide as the instructions -march=native picks: 64 bytes for
// AVX-512 (32 registers), 32 for AVX2 (16), 16 for SSE (--portable; 16). The tiles
// fit the registers: tiles of 64-byte vectors built for AVX2 spill their sums (Zen
// 3: a 1024 x 429 x 400 GEMM ran at 3.5 GFLOP/s of 99). N need not be a multiple of
// the vector: the last vector of a row is its last K_LANES columns, overlapping the
// one before it (N = 40, 16 lanes: columns 0-15, 16-31, 24-39), in the same tile,
// so both compute the shared columns from the same loaded sums and store the same
// values; only N < K_LANES goes through a zero-padded staging tile, and N = 1 or 2
// through dot products.
#if defined(__AVX512F__)
#define K_VBYTES 64
#define K_VREGS 32
#elif defined(__AVX__)
#define K_VBYTES 32
#define K_VREGS 16
#else
#define K_VBYTES 16
#define K_VREGS 16
#endif
// A tile's column blocks: K_VMAX vectors by K_MR rows, or K_VBIG by 4 rows where
// K_VMAX would leave one vector alone (the sums, W's vectors and a broadcast fit
// the registers).
#if K_VREGS == 32
#define K_VMAX 4
#define K_VBIG 5
#else
#define K_VMAX 2
#define K_VBIG 3
#endif
#define K_MR 6
#define K_KC 256
#define K_SWAP_MAX 4096   // the most elements of a C computed transposed (K_(gemm))
#define K_LANES (K_VBYTES / (int)sizeof(REAL))
typedef REAL K_(vec) __attribute__((vector_size(K_VBYTES)));
typedef REAL K_(uvec) __attribute__((vector_size(K_VBYTES), aligned(sizeof(REAL))));   // unaligned access
typedef REAL K_(vec32) __attribute__((vector_size(32)));
typedef REAL K_(vec16) __attribute__((vector_size(16)));

// Where vector v of a V-vector tile starts: v * K_LANES, the last one shifted by
// sh (<= 0) when it overlaps its neighbour.
#define K_VOFF(v, V, sh) ((v) * K_LANES + ((v) == (V) - 1 ? (sh) : 0))

// The tile at rows r0.. (R of them), V vectors from column j0 of C and of W (the
// last one shifted by shc in C, shw in W), k in [k0, k1).
static inline __attribute__((always_inline)) void K_(tile)(int R, int V, int64_t r0, int64_t j0, int64_t k0, int64_t k1,
                                                          const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                                                          int64_t ldw, int shw, REAL *C, int64_t ldc, int shc, int load) {
  K_(vec) acc[K_MR][16];
  for (int i = 0; i < R; i++)
    for (int v = 0; v < V; v++)
      if (load) acc[i][v] = *(const K_(uvec) *)(C + (r0 + i) * ldc + j0 + K_VOFF(v, V, shc));
      else acc[i][v] = (K_(vec)){0};
  for (int64_t p = k0; p < k1; p++) {
    const REAL *wr = W + p * ldw + j0;
    K_(vec) w[16];
    for (int v = 0; v < V; v++) w[v] = *(const K_(uvec) *)(wr + K_VOFF(v, V, shw));
    for (int i = 0; i < R; i++) {
      REAL a = A[(r0 + i) * ars + p * acs];
      for (int v = 0; v < V; v++) acc[i][v] += a * w[v];
    }
  }
  for (int i = 0; i < R; i++)
    for (int v = 0; v < V; v++) *(K_(uvec) *)(C + (r0 + i) * ldc + j0 + K_VOFF(v, V, shc)) = acc[i][v];
}

// Asks for the lines of n values at p. The gradient's walk backwards takes a step
// of each of a block's examples, which are a sequence apart ([t, 3n] inputs each,
// 19 KB in DIEN, and [t, DMC_GRU_ROW(n)] results): the next step's rows were misses the
// hardware did not predict (a third of gru_gates' samples on its first load;
// DIEN's augru_scan_grad 2.9-3.5 -> 2.1 ms a training step). The forward walk
// gained nothing from it.
static inline void K_(prefetch_run)(const REAL *p, int64_t n, int write) {
  for (int64_t i = 0; i < n; i += 64 / (int64_t)sizeof(REAL))   // (the rw argument: a constant for Clang)
    if (write) __builtin_prefetch(p + i, 1);
    else __builtin_prefetch(p + i, 0);
  if (write) __builtin_prefetch(p + n - 1, 1);
  else __builtin_prefetch(p + n - 1, 0);
}

// The sum of a vector's lanes, by halves (a lane at a time is a chain of 16 adds);
// by pointer: a 64-byte vector passed by value changes the ABI without AVX-512.
static inline REAL K_(hsum)(const K_(vec) *v) {
  K_(vec16) c;
#if K_VBYTES >= 32
  K_(vec32) a;
  memcpy(&a, v, 32);
#if K_VBYTES == 64
  K_(vec32) b;
  memcpy(&b, (const char *)v + 32, 32);
  a += b;
#endif
  K_(vec16) d;
  memcpy(&c, &a, 16), memcpy(&d, (const char *)&a + 16, 16);
  c += d;
#else
  memcpy(&c, v, 16);
#endif
  REAL s = 0;
  for (int l = 0; l < (int)(16 / sizeof(REAL)); l++) s += c[l];
  return s;
}

#if defined(K_TRANSPOSE16) && K_VBYTES != 64
#undef K_TRANSPOSE16   // float with AVX-512 only (16 lanes)
#endif
#ifdef K_TRANSPOSE16
// Lane i: K_(hsum)(&v[i]) for 16 vectors, with the same adds in the same order (by
// halves, then the last four lanes in turn from 0), but two rows to a vector: a dot
// product per row of a one-column GEMM (AFM's [325, 16] @ [16, 1] score) spent more on
// its hsum's extractions than on its products. By pointer, as K_(hsum).
#define K_SV __builtin_shufflevector
static inline __attribute__((always_inline)) void K_(hsum16)(const K_(vec) *v, K_(vec) *out) {
  K_(vec) p[8], q[4];
  for (int k = 0; k < 8; k++)   // lanes 0-7: row 2k's 8 half sums, 8-15: row 2k + 1's
    p[k] = K_SV(v[2 * k], v[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           K_SV(v[2 * k], v[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int m = 0; m < 4; m++)   // lanes 4i..4i+3: row 4m + i's 4 quarter sums
    q[m] = K_SV(p[2 * m], p[2 * m + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           K_SV(p[2 * m], p[2 * m + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  // x(l): lane r = row r's quarter sum l; then 0 + x(0) + x(1) + x(2) + x(3), as K_(hsum)
#define K_X(l)                                                                                                    \
  K_SV(K_SV(q[0], q[1], l, 4 + l, 8 + l, 12 + l, 16 + l, 20 + l, 24 + l, 28 + l, l, l, l, l, l, l, l, l),          \
       K_SV(q[2], q[3], l, 4 + l, 8 + l, 12 + l, 16 + l, 20 + l, 24 + l, 28 + l, l, l, l, l, l, l, l, l), 0, 1, 2, 3, \
       4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
  K_(vec) s = (K_(vec)){0};
  s += K_X(0);
  s += K_X(1);
  s += K_X(2);
  s += K_X(3);
  *out = s;
#undef K_X
}
#undef K_SV
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(K_TRANSPOSE16)
// dst[i * lds + j] = src[j * ls + i] for i, j < 16: 16 rows loaded, then at each
// of 4 stages (h = 8, 4, 2, 1) rows i and i + h swap their off-diagonal h-wide
// blocks (one two-source shuffle each), the recursive block transpose. Float
// only (16 lanes); GCC's __builtin_shuffle (Clang spells it otherwise). Packing
// a transposed W element by element cost 0.1 ms of a 256x400x400 matmul_nt.
typedef int K_(ivec) __attribute__((vector_size(64)));
// lane l of row i (s = 0) or of row i + h (s = 1) after a stage: from a (0..15) or b (16..31)
#define K_ML(h, s, l) ((l) & (h) ? 16 + (l) - ((s) ? 0 : (h)) : (l) + ((s) ? (h) : 0))
#define K_MASKS(h, s)                                                                                   \
  {K_ML(h, s, 0),  K_ML(h, s, 1),  K_ML(h, s, 2),  K_ML(h, s, 3),  K_ML(h, s, 4),  K_ML(h, s, 5),        \
   K_ML(h, s, 6),  K_ML(h, s, 7),  K_ML(h, s, 8),  K_ML(h, s, 9),  K_ML(h, s, 10), K_ML(h, s, 11),       \
   K_ML(h, s, 12), K_ML(h, s, 13), K_ML(h, s, 14), K_ML(h, s, 15)}
static inline __attribute__((always_inline)) void K_(transpose16)(const REAL *src, int64_t ls, REAL *dst, int64_t lds) {
  K_(vec) r[16];
  for (int i = 0; i < 16; i++) r[i] = *(const K_(uvec) *)(src + i * ls);
#define K_STAGE(h, lo, hi)                                                                  \
  for (int i = 0; i < 16; i++)                                                              \
    if (!(i & (h))) {                                                                       \
      K_(vec) a = r[i], b = r[i + (h)];                                                     \
      r[i] = __builtin_shuffle(a, b, (K_(ivec))lo), r[i + (h)] = __builtin_shuffle(a, b, (K_(ivec))hi); \
    }
  K_STAGE(8, K_MASKS(8, 0), K_MASKS(8, 1))
  K_STAGE(4, K_MASKS(4, 0), K_MASKS(4, 1))
  K_STAGE(2, K_MASKS(2, 0), K_MASKS(2, 1))
  K_STAGE(1, K_MASKS(1, 0), K_MASKS(1, 1))
#undef K_STAGE
#undef K_MASKS
#undef K_ML
  for (int i = 0; i < 16; i++) *(K_(uvec) *)(dst + i * lds) = r[i];
}
#endif

// W's block of rows [k0, k1) and n columns from j0, W's element (p, j) at
// W[p * wrs + j * wcs], into wp as rows ldp apart (zero from n to width).
// Inlined: called apart, it took 15% of matmul_nt 256x400x400 (0.54 -> 0.58 ms).
static inline __attribute__((always_inline)) void K_(pack)(const REAL *W, int64_t wrs, int64_t wcs, int64_t k0,
                                                           int64_t k1, int64_t j0, int64_t n, int64_t width,
                                                           int64_t ldp, REAL *wp) {
  int64_t kn = k1 - k0;
  if (wcs == 1)
    for (int64_t p = 0; p < kn; p++) {   // inline vector copies: a memcpy call per row costs as much as the row
      const REAL *src = W + (k0 + p) * wrs + j0;
      REAL *dst = wp + p * ldp;
      int64_t c = 0;
      for (; c + K_LANES <= n; c += K_LANES) *(K_(uvec) *)(dst + c) = *(const K_(uvec) *)(src + c);
      for (; c < width; c++) dst[c] = c < n ? src[c] : 0;
    }
  else {   // W transposed (matmul_nt): a panel row gathers one K step of the block's
           // columns, whose lines stay in L1 for the next steps (packing column by
           // column made the 256x400x400 GEMM 1.3x slower)
    int64_t p = 0;
#if defined(__GNUC__) && !defined(__clang__) && defined(K_TRANSPOSE16)
    if (wrs == 1 && K_LANES == 16 && n == width && n % 16 == 0)   // float: 16 x 16 blocks transposed in registers
      for (; p + 16 <= kn; p += 16)
        for (int64_t c = 0; c < n; c += 16) K_(transpose16)(W + (k0 + p) + (j0 + c) * wcs, wcs, wp + p * ldp + c, ldp);
#endif
    for (; p < kn; p++) {
      const REAL *src = W + (k0 + p) * wrs + j0 * wcs;
      REAL *dst = wp + p * ldp;
      for (int64_t c = 0; c < n; c++) dst[c] = src[c * wcs];
      for (int64_t c = n; c < width; c++) dst[c] = 0;
    }
  }
}

// Every R (1..RMAX) as its own constant-bound copy of the tile, on A from column
// k0 (Ak), the panel Wp (row length lw, last vector shifted by shw) and C from
// column j0 (Cj).
#define K_TILE_R(R, V) K_(tile)(R, V, r0, 0, 0, kn, Ak, ars, acs, Wp, lw, shw, Cj, ldc, shc, load)
#define K_TILE_V(V)                                                                                   \
  switch (rn) {                                                                                      \
  case 6: K_TILE_R(6, V); break;                                                                      \
  case 5: K_TILE_R(5, V); break;                                                                      \
  case 4: K_TILE_R(4, V); break;                                                                      \
  case 3: K_TILE_R(3, V); break;                                                                      \
  case 2: K_TILE_R(2, V); break;                                                                      \
  default: K_TILE_R(1, V); break;                                                                     \
  }

// The panel a K block packs W into, per thread (pool threads run kernels at once).
static _Thread_local K_(vec) K_(wpanel)[K_KC * K_VBIG];

// A row's dot product with wc over kn values, in K_LANES lanes: whole vectors, then
// the last kn % K_LANES as one vector ending at kn against wt (zero before the tail);
// nothing when kn < K_LANES (the caller adds those serially).
static inline __attribute__((always_inline)) void K_(dot_lanes)(const REAL *ar, const REAL *wc, int64_t kn, int64_t tail,
                                                                const K_(vec) *wt, K_(vec) *acc) {
  *acc = (K_(vec)){0};
  for (int64_t p = 0; p + K_LANES <= kn; p += K_LANES) *acc += *(const K_(uvec) *)(ar + p) * *(const K_(uvec) *)(wc + p);
  if (tail) *acc += *(const K_(uvec) *)(ar + kn - K_LANES) * *wt;
}

// K_(gemm) for N < K_LANES, on its own so that its register allocation is not
// the wide tiles' (sharing a function, its 6 x 1 tile reloaded row offsets from
// the stack every step); a plain A (acs == 1) has its own copy, its step known.
static inline __attribute__((always_inline)) void K_(narrow_body)(int64_t M, int64_t N, int64_t Kd, const REAL *A,
                                                                  int64_t ars, int64_t acs, const REAL *W, int64_t wrs,
                                                                  int64_t wcs, REAL *C, int64_t ldc, int accumulate) {
  if (Kd == 0 && !accumulate)
    for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, sizeof(REAL) * (size_t)N);
  for (int64_t k0 = 0; k0 < Kd; k0 += K_KC) {
    int64_t k1 = Kd - k0 < K_KC ? Kd : k0 + K_KC, kn = k1 - k0;
    int load = accumulate || k0 > 0;
    const REAL *Ak = A + k0 * acs;
    if (N <= 2 && acs == 1) {   // one or two columns (a logit): dot products
      // the last kn % K_LANES steps as one vector ending at kn, against weights
      // zero before the tail (wt), when kn is at least a vector
      REAL wc[K_KC + K_LANES];
      int64_t kv = kn / K_LANES * K_LANES, tail = kn - kv >= 1 && kn >= K_LANES;
      for (int64_t j = 0; j < N; j++) {
        for (int64_t p = k0; p < k1; p++) wc[p - k0] = W[p * wrs + j * wcs];
        K_(vec) wt = {0};
        if (tail)
          for (int l = 0; l < K_LANES; l++) wt[l] = kn - K_LANES + l >= kv ? wc[kn - K_LANES + l] : 0;
        int64_t r = 0;
#ifdef K_TRANSPOSE16
        for (; kn >= K_LANES && r + 16 <= M; r += 16) {   // 16 rows' sums at once, the same bits
          K_(vec) acc[16], h;
          for (int i = 0; i < 16; i++) K_(dot_lanes)(Ak + (r + i) * ars, wc, kn, tail, &wt, &acc[i]);
          K_(hsum16)(acc, &h);
          for (int i = 0; i < 16; i++) C[(r + i) * ldc + j] = (load ? C[(r + i) * ldc + j] : 0) + h[i];
        }
#endif
        for (; r < M; r++) {
          const REAL *ar = Ak + r * ars;
          K_(vec) acc;
          K_(dot_lanes)(ar, wc, kn, tail, &wt, &acc);
          REAL sum = (load ? C[r * ldc + j] : 0) + K_(hsum)(&acc);
          for (int64_t p = kn >= K_LANES ? kn : 0; p < kn; p++) sum += ar[p] * wc[p];   // kn < K_LANES: serial
          C[r * ldc + j] = sum;
        }
      }
    } else {   // one vector, zero-padded
      int64_t tn = N;
      REAL wt[K_KC * K_LANES], ct[K_MR * K_LANES];
      K_(pack)(W, wrs, wcs, k0, k1, 0, tn, K_LANES, K_LANES, wt);
      for (int64_t r0 = 0; r0 < M; r0 += K_MR) {
        int rn = M - r0 < K_MR ? (int)(M - r0) : K_MR;
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < K_LANES; c++) ct[i * K_LANES + c] = load && c < tn ? C[(r0 + i) * ldc + c] : 0;
        // the tile on A's rows r0.. from column k0, the packed panel and the staging rows
        const REAL *Ar = Ak + r0 * ars;
        switch (rn) {
        case 6: K_(tile)(6, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        case 5: K_(tile)(5, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        case 4: K_(tile)(4, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        case 3: K_(tile)(3, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        case 2: K_(tile)(2, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        default: K_(tile)(1, 1, 0, 0, 0, kn, Ar, ars, acs, wt, K_LANES, 0, ct, K_LANES, 0, 1); break;
        }
        for (int i = 0; i < rn; i++)
          for (int64_t c = 0; c < tn; c++) C[(r0 + i) * ldc + c] = ct[i * K_LANES + c];
      }
    }
  }
}

__attribute__((noinline)) KSTATIC void K_(gemm_narrow)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars,
                                                       int64_t acs, const REAL *W, int64_t wrs, int64_t wcs, REAL *C,
                                                       int64_t ldc, int accumulate) {
  if (acs == 1) K_(narrow_body)(M, N, Kd, A, ars, 1, W, wrs, wcs, C, ldc, accumulate);
  else K_(narrow_body)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate);
}

// The columns of a row, nv vectors, in blocks of K_VMAX (a register tile of 6 x 4
// with AVX-512, 6 x 2 with 16 registers); when that would leave one vector (N = 80,
// 400 with 16 lanes), the last block takes K_VBIG (a tile of 4 x 5, or 4 x 3): a tile
// one vector wide has too few sums in flight, and the vector that overlaps its
// neighbour must share its tile.
static inline int K_(block)(int64_t left) { return left == K_VBIG ? K_VBIG : left >= K_VMAX ? K_VMAX : (int)left; }

// K_(gemm) for N >= K_LANES. far, farw: ask for A's and W's rows ahead (K_(gemm_far)).
static inline __attribute__((always_inline)) void K_(gemm_body)(int64_t M, int64_t N, int64_t Kd, const REAL *A,
                                                                int64_t ars, int64_t acs, const REAL *W, int64_t wrs,
                                                                int64_t wcs, REAL *C, int64_t ldc, int accumulate,
                                                                int far, int farw) {
  int64_t nv = (N + K_LANES - 1) / K_LANES;   // vectors; the last one may overlap
  int sh = (int)(N - nv * K_LANES);          // the last vector's shift (<= 0)
  // batch 1 streams each weight once from W itself. Other rows read W in panels
  // packed per K block, contiguous and aligned, when W is transposed or its rows
  // are not whole cache lines (a load across two lines costs two; parameters sit
  // at any offset): for 12 rows and more that pays for the copy.
  int stream = M == 1 && wcs == 1;
  int pack = !stream && (wcs != 1 || (M >= 2 * K_MR && ((uintptr_t)W % 64 || wrs * sizeof(REAL) % 64)));
  if (Kd == 0 && !accumulate)
    for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, sizeof(REAL) * (size_t)N);
  // K blocks of K_KC, or half that with a 5-vector block: its panel (128 x 80
  // floats) then stays in L1, which its 4-row tiles need (matmul_tn [128, 80]
  // over 12800 rows: 2.4 ms with 256, 2.06 ms with 128); and half that with a
  // transposed A, whose tiles read a line of A per step, shared by the next
  // row tiles while the block's lines and the panel stay in L1 (matmul_tn
  // [80, 40] over 12800 rows: 0.85 -> 0.76 ms). The blocks are of equal length,
  // not a short one last (K = 400: 4 x 100, not 3 x 128 and 16).
  int64_t kc = (nv > 1 && nv % K_VMAX == 1) || acs != 1 ? K_KC / 2 : K_KC, nkb = (Kd + kc - 1) / kc;
  if (nkb > 1) kc = (Kd + nkb - 1) / nkb;
  for (int64_t k0 = 0; k0 < Kd; k0 += kc) {
    int64_t k1 = Kd - k0 < kc ? Kd : k0 + kc, kn = k1 - k0;
    int load = accumulate || k0 > 0;
    const REAL *Ak = A + k0 * acs;
    if (stream)   // wide tiles (half the registers), so 16 sums are in flight, not 4; an overlapping
                  // last vector not alone; the last 1-7 vectors as one tile, so their K steps are one
                  // chain of FMA latencies, not two (a GRU step's [32, 96] product: 6 vectors, not 4 + 2)
      for (int64_t j0 = 0; j0 < nv * K_LANES;) {
        enum { S = K_VREGS / 2 };
        int64_t left = nv - j0 / K_LANES;
        int v = left >= S ? S : left >= 8 ? 8 : (int)left, s = 0;
        if (sh && left - v == 1) v = v == 16 ? 8 : v == 8 ? 4 : v - 1;
        if (v == left) s = sh;
#if K_VREGS == 32
        if (v == 16) K_(tile)(1, 16, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else
#endif
        if (v == 8) K_(tile)(1, 8, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 7) K_(tile)(1, 7, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 6) K_(tile)(1, 6, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 5) K_(tile)(1, 5, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 4) K_(tile)(1, 4, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 3) K_(tile)(1, 3, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else if (v == 2) K_(tile)(1, 2, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        else K_(tile)(1, 1, 0, j0, k0, k1, A, ars, acs, W, wrs, s, C, ldc, s, load);
        j0 += v * K_LANES;
      }
    else
      for (int64_t j0 = 0; j0 < nv * K_LANES;) {
        int V = K_(block)(nv - j0 / K_LANES), shc = j0 / K_LANES + V == nv ? sh : 0, shw = shc;
        int64_t lw = wrs;
        const REAL *Wp = W + k0 * wrs + j0;
        REAL *Cj = C + j0;
        if (pack) {   // the block's columns, the overlapping last vector's own copy at its place in the panel
          REAL *wp = (REAL *)K_(wpanel);
          lw = V * K_LANES;
          K_(pack)(W, wrs, wcs, k0, k1, j0, (V - 1) * K_LANES, (V - 1) * K_LANES, lw, wp);
          K_(pack)(W, wrs, wcs, k0, k1, j0 + (V - 1) * K_LANES + shc, K_LANES, K_LANES, lw, wp + (V - 1) * K_LANES);
          Wp = wp, shw = 0;
        }
        for (int64_t r0 = 0; r0 < M;) {
          int rmax = V == K_VBIG ? 4 : K_MR, rn = M - r0 < rmax ? (int)(M - r0) : rmax;
          for (int i = 0; far && i < rmax && r0 + rn + i < M; i++) K_(prefetch_run)(Ak + (r0 + rn + i) * ars, kn, 0);
          if (farw && j0 == 0 && k1 < Kd) {   // this tile's share of the next K block's rows
            int64_t per = (kc + (M + rmax - 1) / rmax - 1) / ((M + rmax - 1) / rmax), p0 = k1 + r0 / rmax * per;
            for (int64_t p = p0; p < p0 + per && p < Kd; p++) {
              K_(prefetch_run)(W + p * wrs, N, 0);
              if (acs != 1) K_(prefetch_run)(A + p * acs, M, 0);
            }
          }
#if K_VREGS == 32
          if (V == 5) { K_TILE_V(5) }
          else if (V == 4) { K_TILE_V(4) }
          else
#endif
          if (V == 3) { K_TILE_V(3) }
          else if (V == 2) { K_TILE_V(2) }
          else { K_TILE_V(1) }
          r0 += rn;
        }
        j0 += V * K_LANES;
      }
  }
}

// Many rows of A lying apart (a slice read in place, compiler/slice_views.c): the
// next tile's rows are asked for, which the hardware, stopped at each page, did not
// predict (DIEN's dX over [B, 50, 96] of [B, 50, 240]: 0.85 -> 0.56 ms); so are W's
// rows of the next K block, by the first column block's tiles, when they lie apart.
// A copy of its own: in the other GEMMs' copy, the code cost DIEN's batch-1 GRU
// steps 7% (their few rows, a block of examples, are in cache anyway).
__attribute__((noinline)) KSTATIC void K_(gemm_far)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars,
                                                    int64_t acs, const REAL *W, int64_t wrs, int64_t wcs, REAL *C,
                                                    int64_t ldc, int accumulate, int far, int farw) {
  K_(gemm_body)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate, far, farw);
}

// W's element (p, j) is at W[p * wrs + j * wcs]: wcs == 1 is a plain W, wrs == 1
// a transposed one (matmul_nt). A plain A (acs == 1) has its own copy of the
// tiles, with its step known.
KSTATIC void K_(gemm)(int64_t M, int64_t N, int64_t Kd, const REAL *A, int64_t ars, int64_t acs, const REAL *W,
                      int64_t wrs, int64_t wcs, REAL *C, int64_t ldc, int accumulate) {
  if (N == 1 && M > 1 && ldc == 1 && acs != 1) {
    // one column of a left operand read transposed (matmul_tn's [k, 1] weight
    // gradient): C^T = W^T A^T, one row streaming A's rows as its weights
    K_(gemm)(1, M, Kd, W, wcs, wrs, A, acs, ars, C, M, accumulate);
    return;
  }
  if (N < K_LANES && M >= K_LANES && M * N <= K_SWAP_MAX &&
      ((ars == 1 && acs != 1 && wcs == 1) || (N > 2 && acs == 1 && wrs == 1 && wcs != 1))) {
    // a few columns and a left operand read transposed (matmul_tn's weight gradient
    // [16, 8] over 3840 rows), or a transposed W (afm_pool_grad's dW = X^T dZ, [16, 8]
    // over a group's 495 pairs: 3.2 -> 1.5 us, the narrow path packed W an element at a
    // time): C^T = W^T A^T fills whole vectors, where C's rows would be one
    // zero-padded vector each (ex:afm's: 79 -> 12 us). Each sum runs over K in the
    // same order, so the bits are the same.
    REAL t[K_SWAP_MAX];
    for (int64_t i = 0; accumulate && i < M; i++)
      for (int64_t j = 0; j < N; j++) t[j * M + i] = C[i * ldc + j];
    K_(gemm)(N, M, Kd, W, wcs, wrs, A, acs, ars, t, M, accumulate);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = t[j * M + i];
    return;
  }
  int64_t rest = N % K_LANES;
  if (N > K_LANES && rest <= 2 && rest && acs == 1) {
    // one or two columns past the last whole vector: dot products cost less than
    // a vector overlapping 15 or 14 columns already done (N = 33: 3 vectors for 2.06)
    K_(gemm)(M, N - rest, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate);
    K_(gemm_narrow)(M, rest, Kd, A, ars, acs, W + (N - rest) * wcs, wrs, wcs, C + N - rest, ldc, accumulate);
  } else if (N < K_LANES) K_(gemm_narrow)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate);
  else {
    // many rows of A, or of W, lying a line or more apart (K_(gemm_far))
    int far = acs == 1 && ars - Kd >= 64 && M > 64, farw = wcs == 1 && wrs - N >= 64 && (acs == 1 || acs - M >= 64) && Kd > 64;
    if (far || farw) K_(gemm_far)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate, far, farw);
    else if (acs == 1) K_(gemm_body)(M, N, Kd, A, ars, 1, W, wrs, wcs, C, ldc, accumulate, 0, 0);
    else K_(gemm_body)(M, N, Kd, A, ars, acs, W, wrs, wcs, C, ldc, accumulate, 0, 0);
  }
}
#undef K_TILE_V
#undef K_TILE_R
