// Linear as GEMM: y = x W^T + b, dW += gy^T x, dx = gy W. Work is split into fixed blocks of the
// IN dimension (never by the thread count), so every element is computed the same way at any
// number of threads, and each task touches only its own block of W and x, which stays in cache:
// W (OUT x IN = 64 x 4096 floats, 1 MB) read whole by every task would come from L3 each time.
// A classifier's forward (12 outputs or fewer, 16 rows or more) runs in blocks of 16 rows instead,
// with the same sums in the same order (linear_rows16).
#include <immintrin.h>

#include <algorithm>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "gemm.h"
#include "scratch.h"
#include "transpose16.h"

namespace convlab::kernels {

namespace {
constexpr int64_t kColBlock = 256;
constexpr int kFewRows = 8;  // batches up to this many rows: linear_part_few
int64_t blocks(int64_t n, int64_t size) {
  return (n + size - 1) / size;
}
int64_t block_len(int64_t n, int64_t size, int64_t i) {
  return std::min(size, n - i * size);
}
// Rows [n0, n0 + rows) of y (rows <= 16) for OUT <= 12 outputs: lanes over the rows, whose x
// block is turned (k x 16) first. In the GEMM below a vector holds OUT outputs of one row (10 of
// 16 lanes for a classifier) and every multiply-add needs its own broadcast; here each of the
// OUT weights of a column k is broadcast once for 16 rows. The same sums in the same order: each
// block's part starts from zero and takes its columns in order, and y = b + part 0 + part 1 + ...
template <int OUT>
__attribute__((target("avx512f"))) void linear_rows16(int64_t rows, int64_t IN, const float* x,
                                                      const float* w, const float* b, float* y,
                                                      float* xT) {
  __m512 total[OUT];
#pragma GCC unroll 12
  for (int o = 0; o < OUT; ++o) total[o] = _mm512_set1_ps(b ? b[o] : 0.0f);
  for (int64_t c0 = 0; c0 < IN; c0 += kColBlock) {
    const int64_t cols = std::min(kColBlock, IN - c0);
    transpose(rows, cols, x + c0, IN, xT, 16);  // xT[k][i] = x[i][c0 + k]; lanes past rows unused
    __m512 acc[OUT];
#pragma GCC unroll 12
    for (int o = 0; o < OUT; ++o) acc[o] = _mm512_setzero_ps();
    const float* wk = w + c0;
    for (int64_t k = 0; k < cols; ++k) {
      const __m512 xv = _mm512_load_ps(xT + k * 16);
#pragma GCC unroll 12
      for (int o = 0; o < OUT; ++o)
        acc[o] = _mm512_fmadd_ps(xv, _mm512_set1_ps(wk[o * IN + k]), acc[o]);
    }
#pragma GCC unroll 12
    for (int o = 0; o < OUT; ++o) total[o] = _mm512_add_ps(total[o], acc[o]);
  }
  alignas(64) float out[OUT * 16];
#pragma GCC unroll 12
  for (int o = 0; o < OUT; ++o) _mm512_store_ps(out + o * 16, total[o]);
  transpose(OUT, rows, out, 16, y, OUT);
}

// One block of columns of a batch of NB rows (fewer than 16: lanes over rows would run nearly
// empty): part[n][o] = sum_k x[n][k] * w[o][k] over the block's `cols` columns (x and w start at
// its first, IN floats a row), k in order from zero, as the GEMM below sums it. Lanes over 16
// outputs, each 16 x 16 tile of w turned in registers and used at once: turning the block into
// memory and reading it back had cost more than the products (Linear(4096, 64) at batch 1: 58 us,
// 60 % of it the turn, for 262k multiply-adds).
template <int NB>
__attribute__((target("avx512f"))) void linear_part_few(int64_t IN, int64_t OUT, int64_t cols,
                                                        const float* x, const float* w,
                                                        float* part) {
  for (int64_t o0 = 0; o0 < OUT; o0 += 16) {
    const int64_t rows = std::min<int64_t>(16, OUT - o0);
    const __mmask16 row_mask = static_cast<__mmask16>((uint32_t{1} << rows) - 1);
    __m512 acc[NB];
    for (int n = 0; n < NB; ++n) acc[n] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < cols; k0 += 16) {
      const int64_t kk = std::min<int64_t>(16, cols - k0);
      const __mmask16 col_mask = static_cast<__mmask16>((uint32_t{1} << kk) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, w + (o0 + i) * IN + k0)
                        : _mm512_setzero_ps();
      transpose16(r);  // r[j]: w[o0 + i][k0 + j] in lane i
      if (kk == 16) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; ++j)
          for (int n = 0; n < NB; ++n)
            acc[n] = _mm512_fmadd_ps(_mm512_set1_ps(x[n * IN + k0 + j]), r[j], acc[n]);
      } else {  // the block's last columns: only those (0 x an infinite x would be NaN)
        alignas(64) float turned[16 * 16];
        for (int j = 0; j < 16; ++j) _mm512_store_ps(turned + 16 * j, r[j]);
        for (int64_t j = 0; j < kk; ++j)
          for (int n = 0; n < NB; ++n)
            acc[n] = _mm512_fmadd_ps(_mm512_set1_ps(x[n * IN + k0 + j]),
                                     _mm512_load_ps(turned + 16 * j), acc[n]);
      }
    }
    for (int n = 0; n < NB; ++n) _mm512_mask_storeu_ps(part + n * OUT + o0, row_mask, acc[n]);
  }
}

template <int NB = kFewRows>
void linear_part_few_of(int64_t N, int64_t IN, int64_t OUT, int64_t cols, const float* x,
                        const float* w, float* part) {
  if constexpr (NB >= 1) {
    if (N == NB) return linear_part_few<NB>(IN, OUT, cols, x, w, part);
    linear_part_few_of<NB - 1>(N, IN, OUT, cols, x, w, part);
  }
}

template <int OUT = 12>
void linear_rows16_of(int64_t out_features, int64_t rows, int64_t IN, const float* x,
                      const float* w, const float* b, float* y, float* xT) {
  if constexpr (OUT >= 1) {
    if (out_features == OUT) return linear_rows16<OUT>(rows, IN, x, w, b, y, xT);
    linear_rows16_of<OUT - 1>(out_features, rows, IN, x, w, b, y, xT);
  }
}

}  // namespace

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                    const float* b, float* y) {
  if (active_isa() == Isa::avx512 && OUT <= 12 && N >= 16) {
    parallel_for(blocks(N, 16), [&](int64_t t) {
      float* xT = scratch(0, static_cast<size_t>(kColBlock * 16));
      linear_rows16_of(OUT, block_len(N, 16, t), IN, x + t * 16 * IN, w, b, y + t * 16 * OUT, xT);
    });
    return;
  }
  // Task t: the partial product over IN columns [t * kColBlock, ...), summed below in block order.
  const int64_t tasks = blocks(IN, kColBlock);
  float* parts = scratch(2, static_cast<size_t>(tasks * N * OUT));
  parallel_for(tasks, [&](int64_t t) {
    const int64_t c0 = t * kColBlock, cols = block_len(IN, kColBlock, t);
    if (active_isa() == Isa::avx512 && N <= kFewRows)
      return linear_part_few_of(N, IN, OUT, cols, x + c0, w + c0, parts + t * N * OUT);
    float* wT = scratch(0, static_cast<size_t>(cols * OUT));
    transpose(OUT, cols, w + c0, IN, wT);  // (cols x OUT)
    gemm_nn(N, OUT, cols, x + c0, IN, wT, OUT, parts + t * N * OUT, OUT, /*accumulate=*/false);
  });
  // Each y[n][o] = b[o] + part 0 + part 1 + ... in block order, a row at a time: the inner loop
  // runs along o, contiguous in every part, so it vectorises (along t it took a sixth of the
  // notebook's Linear(4096, 64) forward).
  for (int64_t n = 0; n < N; ++n) {
    float* row = y + n * OUT;
    for (int64_t o = 0; o < OUT; ++o) row[o] = b ? b[o] : 0.0f;
    for (int64_t t = 0; t < tasks; ++t) {
      const float* part = parts + (t * N + n) * OUT;
      for (int64_t o = 0; o < OUT; ++o) row[o] += part[o];
    }
  }
}

void linear_backward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb) {
  if (gb)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) acc += gy[n * OUT + o];
      gb[o] += static_cast<float>(acc);
    }
  float* gyT = gw ? scratch(1, static_cast<size_t>(N * OUT)) : nullptr;
  if (gw) transpose(N, OUT, gy, OUT, gyT);  // (OUT x N)
  const int64_t gw_tasks = gw ? blocks(IN, kColBlock) : 0,
                gx_tasks = gx ? blocks(IN, kColBlock) : 0;
  parallel_for(gw_tasks + gx_tasks, [&](int64_t t) {
    // The block of x or W the product reads is first copied to rows of its own width: in place
    // its rows lie IN floats apart (16 KB for IN = 4096), all in the same few cache sets, and
    // evicted one another from L1 at every step of the sum (the same products, same bits).
    if (t < gw_tasks) {  // columns c0.. of dW += gy^T x
      const int64_t c0 = t * kColBlock, cols = block_len(IN, kColBlock, t);
      float* xb = scratch(0, static_cast<size_t>(N * cols));
      copy_rows(x + c0, IN, xb, cols, N, cols);
      gemm_nn(OUT, cols, N, gyT, N, xb, cols, gw + c0, IN, /*accumulate=*/true);
    } else {  // columns c0.. of dx = gy W
      const int64_t i = t - gw_tasks, c0 = i * kColBlock, cols = block_len(IN, kColBlock, i);
      float* wb = scratch(0, static_cast<size_t>(OUT * cols));
      copy_rows(w + c0, IN, wb, cols, OUT, cols);
      gemm_nn(N, cols, OUT, gy, OUT, wb, cols, gx + c0, IN, /*accumulate=*/false);
    }
  });
}

}  // namespace convlab::kernels
