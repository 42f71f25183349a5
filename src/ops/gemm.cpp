#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "transpose16.h"

namespace convlab::kernels {

namespace {

// Register block: MR rows of C by NR columns, accumulated over all of K before one store. The
// compiler vectorises the j loops (NR = 64 floats: 4 zmm or 8 ymm per row).
constexpr int64_t MR = 4;
constexpr int64_t NR = 64;

#define CONVLAB_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CONVLAB_CLONES
void block_full(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc, bool accumulate) {
  float acc[MR][NR];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) acc[r][j] = accumulate ? C[r * ldc + j] : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    const float a0 = A[k], a1 = A[lda + k], a2 = A[2 * lda + k], a3 = A[3 * lda + k];
    for (int64_t j = 0; j < NR; ++j) {
      const float bj = b[j];
      acc[0][j] += a0 * bj;
      acc[1][j] += a1 * bj;
      acc[2][j] += a2 * bj;
      acc[3][j] += a3 * bj;
    }
  }
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) C[r * ldc + j] = acc[r][j];
}

// block_full for AVX-512, written out: the compiler spills block_full's 16 accumulator vectors to
// the stack in every iteration; here they stay in registers. The same fused multiply-adds in the
// same order, so results equal block_full's (arch=x86-64-v4 clone) bit for bit.
// kTransA (here and in the other AVX-512 kernels): A is given transposed, element (r, k) at
// A[k * lda + r] (gemm_tn); the same multiply-adds in the same order.
template <bool kTransA>
__attribute__((target("avx512f"))) void block_full_avx512(int64_t K, const float* A, int64_t lda,
                                                          const float* B, int64_t ldb, float* C,
                                                          int64_t ldc, bool accumulate) {
  static_assert(MR == 4 && NR == 64, "the AVX-512 kernel is written for 4 x 64 blocks");
  const int64_t rs = kTransA ? 1 : lda, ks = kTransA ? lda : 1;  // A's row and k strides
  __m512 c[4][4];  // fully unrolled set-up and stores: otherwise GCC keeps c on the stack
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v)
      c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * v) : _mm512_setzero_ps();
  const float *a0 = A, *a1 = A + rs, *a2 = A + 2 * rs, *a3 = A + 3 * rs;
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16),
                 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
    const __m512 x0 = _mm512_set1_ps(a0[k * ks]), x1 = _mm512_set1_ps(a1[k * ks]),
                 x2 = _mm512_set1_ps(a2[k * ks]), x3 = _mm512_set1_ps(a3[k * ks]);
    c[0][0] = _mm512_fmadd_ps(x0, b0, c[0][0]);
    c[0][1] = _mm512_fmadd_ps(x0, b1, c[0][1]);
    c[0][2] = _mm512_fmadd_ps(x0, b2, c[0][2]);
    c[0][3] = _mm512_fmadd_ps(x0, b3, c[0][3]);
    c[1][0] = _mm512_fmadd_ps(x1, b0, c[1][0]);
    c[1][1] = _mm512_fmadd_ps(x1, b1, c[1][1]);
    c[1][2] = _mm512_fmadd_ps(x1, b2, c[1][2]);
    c[1][3] = _mm512_fmadd_ps(x1, b3, c[1][3]);
    c[2][0] = _mm512_fmadd_ps(x2, b0, c[2][0]);
    c[2][1] = _mm512_fmadd_ps(x2, b1, c[2][1]);
    c[2][2] = _mm512_fmadd_ps(x2, b2, c[2][2]);
    c[2][3] = _mm512_fmadd_ps(x2, b3, c[2][3]);
    c[3][0] = _mm512_fmadd_ps(x3, b0, c[3][0]);
    c[3][1] = _mm512_fmadd_ps(x3, b1, c[3][1]);
    c[3][2] = _mm512_fmadd_ps(x3, b2, c[3][2]);
    c[3][3] = _mm512_fmadd_ps(x3, b3, c[3][3]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
}

// Any block up to MR x NR: same order of operations per element as block_full.
CONVLAB_CLONES
void block_edge(int64_t m, int64_t n, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  for (int64_t r = 0; r < m; ++r) {
    float acc[NR];
    for (int64_t j = 0; j < n; ++j) acc[j] = accumulate ? C[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[r * lda + k];
      const float* b = B + k * ldb;
      for (int64_t j = 0; j < n; ++j) acc[j] += a * b[j];
    }
    for (int64_t j = 0; j < n; ++j) C[r * ldc + j] = acc[j];
  }
}

// block_edge for AVX-512: masked loads and stores cover a block of up to MR x NR (NV vectors per
// row). Rows past m repeat row m - 1 and are not stored. The same fused multiply-adds in the same
// order per element as block_edge's arch=x86-64-v4 clone, so the bits are the same; the compiler
// cannot vectorise block_edge's loops of run-time length well (Linear(4096, 10) forward spent
// 7 times PyTorch's time there).
template <int NV, bool kTransA>
__attribute__((target("avx512f"))) void block_edge_avx512(int64_t m, int64_t n, int64_t K,
                                                          const float* A, int64_t lda,
                                                          const float* B, int64_t ldb, float* C,
                                                          int64_t ldc, bool accumulate) {
  static_assert(MR == 4 && NV >= 1 && NV <= 4);
  // Accumulators in named variables, as block8_avx512's (an array of them was stored to the
  // stack in every iteration).
  const auto lane_mask = [n](int v) {
    return static_cast<__mmask16>((uint32_t{1} << std::clamp<int64_t>(n - 16 * v, 0, 16)) - 1);
  };
  const __mmask16 m0 = lane_mask(0), m1 = lane_mask(1), m2 = lane_mask(2), m3 = lane_mask(3);
  const __m512 z = _mm512_setzero_ps();
  // Rows past m repeat row m - 1 and are not stored.
  const int64_t rs = kTransA ? 1 : lda, ks = kTransA ? lda : 1;
  const float *a0 = A, *a1 = A + std::min<int64_t>(1, m - 1) * rs,
              *a2 = A + std::min<int64_t>(2, m - 1) * rs,
              *a3 = A + std::min<int64_t>(3, m - 1) * rs;
#define CONVLAB_EDGE_INIT(r, v)                                                              \
  __m512 c##r##v = z;                                                                        \
  if constexpr (NV > v) {                                                                    \
    if (accumulate)                                                                          \
      c##r##v = _mm512_maskz_loadu_ps(m##v, C + std::min<int64_t>(r, m - 1) * ldc + 16 * v); \
  }                                                                                          \
  static_assert(true)
#define CONVLAB_EDGE_ROW_INIT(r) \
  CONVLAB_EDGE_INIT(r, 0);       \
  CONVLAB_EDGE_INIT(r, 1);       \
  CONVLAB_EDGE_INIT(r, 2);       \
  CONVLAB_EDGE_INIT(r, 3)
#define CONVLAB_EDGE_FMA(r)                                          \
  {                                                                  \
    const __m512 x = _mm512_set1_ps(a##r[k * ks]);                   \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                       \
    if constexpr (NV > 1) c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1); \
    if constexpr (NV > 2) c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2); \
    if constexpr (NV > 3) c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3); \
  }
#define CONVLAB_EDGE_STORE(r)                                                   \
  if (r < m) {                                                                  \
    _mm512_mask_storeu_ps(C + r * ldc, m0, c##r##0);                            \
    if constexpr (NV > 1) _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c##r##1); \
    if constexpr (NV > 2) _mm512_mask_storeu_ps(C + r * ldc + 32, m2, c##r##2); \
    if constexpr (NV > 3) _mm512_mask_storeu_ps(C + r * ldc + 48, m3, c##r##3); \
  }
  CONVLAB_EDGE_ROW_INIT(0);
  CONVLAB_EDGE_ROW_INIT(1);
  CONVLAB_EDGE_ROW_INIT(2);
  CONVLAB_EDGE_ROW_INIT(3);
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
    const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : z;
    const __m512 b2 = NV > 2 ? _mm512_maskz_loadu_ps(m2, b + 32) : z;
    const __m512 b3 = NV > 3 ? _mm512_maskz_loadu_ps(m3, b + 48) : z;
    CONVLAB_EDGE_FMA(0);
    CONVLAB_EDGE_FMA(1);
    CONVLAB_EDGE_FMA(2);
    CONVLAB_EDGE_FMA(3);
  }
  CONVLAB_EDGE_STORE(0);
  CONVLAB_EDGE_STORE(1);
  CONVLAB_EDGE_STORE(2);
  CONVLAB_EDGE_STORE(3);
#undef CONVLAB_EDGE_INIT
#undef CONVLAB_EDGE_ROW_INIT
#undef CONVLAB_EDGE_FMA
#undef CONVLAB_EDGE_STORE
}

// 8 rows x up to 32 columns (NV masked vectors), for column blocks at most 32 wide (a matrix that
// narrow, or the last columns of a wider one): a Winograd weight gradient of a 32-channel layer
// (N = 32), Linear(4096, 10)'s forward (N = 10).
// block_edge_avx512 keeps 4 rows x NV accumulators there: 4 or 8 chains of dependent multiply-adds,
// too few to hide their latency, and it loads the B vectors once per 4 rows. Here 8 x NV
// accumulators, 8 broadcasts and NV loads per 8 x NV multiply-adds. The accumulators are named
// variables: held in an array (c[8][NV]), GCC kept them on the stack and stored all of them in
// every iteration. The same fused multiply-adds in the same order per element, so the same bits.
template <int NV, bool kTransA>
__attribute__((target("avx512f"))) void block8_avx512(int64_t n, int64_t K, const float* A,
                                                      int64_t lda, const float* B, int64_t ldb,
                                                      float* C, int64_t ldc, bool accumulate) {
  static_assert(NV == 1 || NV == 2);
  const int64_t rs = kTransA ? 1 : lda, ks = kTransA ? lda : 1;
  const __mmask16 m0 = static_cast<__mmask16>((uint32_t{1} << std::clamp<int64_t>(n, 0, 16)) - 1);
  const __mmask16 m1 =
      static_cast<__mmask16>((uint32_t{1} << std::clamp<int64_t>(n - 16, 0, 16)) - 1);
  const __m512 z = _mm512_setzero_ps();
#define CONVLAB_ROW_INIT(r)                                                 \
  const float* a##r = A + r * rs;                                           \
  __m512 c##r##0 = accumulate ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : z; \
  __m512 c##r##1 = NV == 2 && accumulate ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : z
#define CONVLAB_ROW_FMA(r)                                            \
  {                                                                   \
    const __m512 x = _mm512_set1_ps(a##r[k * ks]);                    \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                        \
    if constexpr (NV == 2) c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1); \
  }
#define CONVLAB_ROW_STORE(r)                       \
  _mm512_mask_storeu_ps(C + r * ldc, m0, c##r##0); \
  if constexpr (NV == 2) _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c##r##1)
  CONVLAB_ROW_INIT(0);
  CONVLAB_ROW_INIT(1);
  CONVLAB_ROW_INIT(2);
  CONVLAB_ROW_INIT(3);
  CONVLAB_ROW_INIT(4);
  CONVLAB_ROW_INIT(5);
  CONVLAB_ROW_INIT(6);
  CONVLAB_ROW_INIT(7);
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
    const __m512 b1 = NV == 2 ? _mm512_maskz_loadu_ps(m1, b + 16) : z;
    CONVLAB_ROW_FMA(0);
    CONVLAB_ROW_FMA(1);
    CONVLAB_ROW_FMA(2);
    CONVLAB_ROW_FMA(3);
    CONVLAB_ROW_FMA(4);
    CONVLAB_ROW_FMA(5);
    CONVLAB_ROW_FMA(6);
    CONVLAB_ROW_FMA(7);
  }
  CONVLAB_ROW_STORE(0);
  CONVLAB_ROW_STORE(1);
  CONVLAB_ROW_STORE(2);
  CONVLAB_ROW_STORE(3);
  CONVLAB_ROW_STORE(4);
  CONVLAB_ROW_STORE(5);
  CONVLAB_ROW_STORE(6);
  CONVLAB_ROW_STORE(7);
#undef CONVLAB_ROW_INIT
#undef CONVLAB_ROW_FMA
#undef CONVLAB_ROW_STORE
}

template <bool kTransA>
void block_edge_any(int64_t m, int64_t n, int64_t K, const float* A, int64_t lda, const float* B,
                    int64_t ldb, float* C, int64_t ldc, bool accumulate, bool avx512) {
  static_assert(MR == 4 && NR == 64, "the AVX-512 edge kernel is written for 4 x 64 blocks");
  if constexpr (!kTransA)
    if (!avx512) return block_edge(m, n, K, A, lda, B, ldb, C, ldc, accumulate);
  switch ((n + 15) / 16) {
    case 1:
      return block_edge_avx512<1, kTransA>(m, n, K, A, lda, B, ldb, C, ldc, accumulate);
    case 2:
      return block_edge_avx512<2, kTransA>(m, n, K, A, lda, B, ldb, C, ldc, accumulate);
    case 3:
      return block_edge_avx512<3, kTransA>(m, n, K, A, lda, B, ldb, C, ldc, accumulate);
    default:
      return block_edge_avx512<4, kTransA>(m, n, K, A, lda, B, ldb, C, ldc, accumulate);
  }
}

// The blocks of C in a fixed order; kTransA (AVX-512 only): A given transposed.
template <bool kTransA>
void gemm_blocks(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool accumulate, bool avx512) {
  const int64_t rs = kTransA ? 1 : lda;  // from one row of A to the next
  for (int64_t j0 = 0; j0 < N; j0 += NR) {
    const int64_t n = N - j0 < NR ? N - j0 : NR;
    int64_t i0 = 0;
    if (n <= 32 && avx512)
      for (; i0 + 8 <= M; i0 += 8)
        (n <= 16 ? block8_avx512<1, kTransA>
                 : block8_avx512<2, kTransA>)(n, K, A + i0 * rs, lda, B + j0, ldb,
                                              C + i0 * ldc + j0, ldc, accumulate);
    for (; i0 < M; i0 += MR) {
      const int64_t m = M - i0 < MR ? M - i0 : MR;
      if (m == MR && n == NR && avx512)
        block_full_avx512<kTransA>(K, A + i0 * rs, lda, B + j0, ldb, C + i0 * ldc + j0, ldc,
                                   accumulate);
      else if (m == MR && n == NR && !kTransA)
        block_full(K, A + i0 * rs, lda, B + j0, ldb, C + i0 * ldc + j0, ldc, accumulate);
      else
        block_edge_any<kTransA>(m, n, K, A + i0 * rs, lda, B + j0, ldb, C + i0 * ldc + j0, ldc,
                                accumulate, avx512);
    }
  }
}

}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  gemm_blocks<false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate, has_avx512);
}

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  if (has_avx512) return gemm_blocks<true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate, true);
  // Elsewhere A turned (M x K) and gemm_nn: the same sums in the same order.
  thread_local std::vector<float> turned;
  turned.resize(static_cast<size_t>(M * K));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t r = 0; r < M; ++r) turned[static_cast<size_t>(r * K + k)] = A[k * lda + r];
  gemm_blocks<false>(M, N, K, turned.data(), K, B, ldb, C, ldc, accumulate, false);
}

namespace {

// GCC 12's unpack and masked intrinsics start from _mm512_undefined_ps() and warn about it (a false
// positive, GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Row j of a transposed tile: all 16 floats, or (kEdge) the first `rows` if j < cols.
template <bool kEdge>
__attribute__((target("avx512f"))) inline void store_row(float* dst, int64_t ldd, int j, int cols,
                                                         __mmask16 row_mask, __m512 v) {
  if (!kEdge) return _mm512_storeu_ps(dst + j * ldd, v);
  if (j < cols) _mm512_mask_storeu_ps(dst + j * ldd, row_mask, v);
}

// One 16 x 16 tile: dst[j * ldd + i] = src[i * lds + j], turned in registers. An edge
// tile (kEdge) has `rows` x `cols` of them (16 at most): masked loads, zeros for the rows past
// `rows`, masked stores (a scalar loop over the edges took 37 % of a batch-1 inference of strided:
// Linear(4096, 10) turns 10 x 256 blocks of its weights per call).
template <bool kEdge>
__attribute__((target("avx512f"))) void transpose_tile_avx512(const float* src, int64_t lds,
                                                              float* dst, int64_t ldd,
                                                              int rows = 16, int cols = 16) {
  __m512 r[16];
  const __mmask16 col_mask = static_cast<__mmask16>((uint32_t{1} << cols) - 1),
                  row_mask = static_cast<__mmask16>((uint32_t{1} << rows) - 1);
  for (int i = 0; i < 16; ++i)
    r[i] = !kEdge     ? _mm512_loadu_ps(src + i * lds)
           : i < rows ? _mm512_maskz_loadu_ps(col_mask, src + i * lds)
                      : _mm512_setzero_ps();
  transpose16(r);
  for (int j = 0; j < 16; ++j) store_row<kEdge>(dst, ldd, j, cols, row_mask, r[j]);
}
#pragma GCC diagnostic pop

}  // namespace

void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd) {
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  constexpr int64_t T = 16;  // tiles keep both sides in cache
  // Tiles walk along the longer side: the inner loop runs over the longer side's tiles, so each
  // step touches only 16 lines of the short side's rows. Walking the short side instead, turning
  // pixel-major results (1024 pixels x 64 channels) into NCHW planes wrote to all 64 planes, 4 KB
  // apart and so in one set of L1, at every step: 2.1 ms for 64 such images against 0.86 ms.
  // (The tiles are copies: same result in any order.)
  const bool rows_inner = rows > cols;
  const int64_t outer = rows_inner ? cols : rows, inner = rows_inner ? rows : cols;
  for (int64_t a = 0; a < outer; a += T)
    for (int64_t b = 0; b < inner; b += T) {
      const int64_t i0 = rows_inner ? b : a, j0 = rows_inner ? a : b;
      if (has_avx512) {
        if (i0 + T <= rows && j0 + T <= cols)
          transpose_tile_avx512<false>(src + i0 * lds + j0, lds, dst + j0 * ldd + i0, ldd);
        else
          transpose_tile_avx512<true>(src + i0 * lds + j0, lds, dst + j0 * ldd + i0, ldd,
                                      static_cast<int>(std::min(T, rows - i0)),
                                      static_cast<int>(std::min(T, cols - j0)));
        continue;
      }
      for (int64_t i = i0; i < rows && i < i0 + T; ++i)
        for (int64_t j = j0; j < cols && j < j0 + T; ++j) dst[j * ldd + i] = src[i * lds + j];
    }
}

void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst) {
  transpose(rows, cols, src, lds, dst, rows);
}

}  // namespace convlab::kernels
