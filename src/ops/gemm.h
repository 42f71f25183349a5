// Single-threaded float GEMM for the fast kernels, row-major with leading dimensions:
//   gemm_nn: C[M x N] (+)= A[M x K] * B[K x N]
//   gemm_tn: C[M x N] (+)= A[K x M]^T * B[K x N]
// Every C element sums its K products in order k = 0..K-1 whatever the blocking, so results do
// not depend on how callers split rows or columns across threads.
#pragma once

#include <cstdint>

namespace convlab::kernels {

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate);

// gemm_tn: C[M x N] (+)= A^T * B with A given as K x M (element (m, k) at A[k * lda + m]), the
// same sums in the same order as gemm_nn on A turned, without turning it.
void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate);

// dst[cols x rows] = src[rows x cols]^T (dst leading dimension rows, or ldd).
void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst);
void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd);

}  // namespace convlab::kernels
