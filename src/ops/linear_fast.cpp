// Linear as GEMM: y = x W^T + b, dW += gy^T x, dx = gy W. Work is split into fixed blocks of rows
// or columns of each result (never by the thread count), so every element is computed the same way
// at any number of threads.
#include <algorithm>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "gemm.h"
#include "scratch.h"

namespace convlab::kernels {

namespace {
constexpr int64_t kRowBlock = 4, kColBlock = 256;
int64_t blocks(int64_t n, int64_t size) {
  return (n + size - 1) / size;
}
int64_t block_len(int64_t n, int64_t size, int64_t i) {
  return std::min(size, n - i * size);
}
}  // namespace

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                    const float* b, float* y) {
  float* wT = scratch(0, static_cast<size_t>(IN * OUT));
  transpose(OUT, IN, w, IN, wT);  // (IN x OUT)
  parallel_for(blocks(N, kRowBlock), [&](int64_t i) {
    const int64_t r0 = i * kRowBlock, rows = block_len(N, kRowBlock, i);
    for (int64_t n = r0; n < r0 + rows; ++n)
      for (int64_t o = 0; o < OUT; ++o) y[n * OUT + o] = b ? b[o] : 0.0f;
    gemm_nn(rows, OUT, IN, x + r0 * IN, IN, wT, OUT, y + r0 * OUT, OUT, /*accumulate=*/true);
  });
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
  const int64_t gw_tasks = gw ? blocks(IN, kColBlock) : 0, gx_tasks = gx ? blocks(N, kRowBlock) : 0;
  parallel_for(gw_tasks + gx_tasks, [&](int64_t t) {
    if (t < gw_tasks) {  // columns c0.. of dW += gy^T x
      const int64_t c0 = t * kColBlock, cols = block_len(IN, kColBlock, t);
      gemm_nn(OUT, cols, N, gyT, N, x + c0, IN, gw + c0, IN, /*accumulate=*/true);
    } else {  // rows r0.. of dx = gy W
      const int64_t i = t - gw_tasks, r0 = i * kRowBlock, rows = block_len(N, kRowBlock, i);
      gemm_nn(rows, IN, OUT, gy + r0 * OUT, OUT, w, IN, gx + r0 * IN, IN, /*accumulate=*/false);
    }
  });
}

}  // namespace convlab::kernels
