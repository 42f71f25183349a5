#include "gemm.h"

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

}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  for (int64_t j0 = 0; j0 < N; j0 += NR) {
    const int64_t n = N - j0 < NR ? N - j0 : NR;
    for (int64_t i0 = 0; i0 < M; i0 += MR) {
      const int64_t m = M - i0 < MR ? M - i0 : MR;
      if (m == MR && n == NR)
        block_full(K, A + i0 * lda, lda, B + j0, ldb, C + i0 * ldc + j0, ldc, accumulate);
      else
        block_edge(m, n, K, A + i0 * lda, lda, B + j0, ldb, C + i0 * ldc + j0, ldc, accumulate);
    }
  }
}

void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst) {
  constexpr int64_t T = 16;  // tiles keep both sides in cache
  for (int64_t i0 = 0; i0 < rows; i0 += T)
    for (int64_t j0 = 0; j0 < cols; j0 += T)
      for (int64_t i = i0; i < rows && i < i0 + T; ++i)
        for (int64_t j = j0; j < cols && j < j0 + T; ++j) dst[j * rows + i] = src[i * lds + j];
}

}  // namespace convlab::kernels
