// Linear as GEMM: y = x W^T + b, dW += gy^T x, dx = gy W. Work is split into fixed blocks of the
// IN dimension (never by the thread count), so every element is computed the same way at any
// number of threads, and each task touches only its own block of W and x, which stays in cache:
// W (OUT x IN = 64 x 4096 floats, 1 MB) read whole by every task would come from L3 each time.
#include <algorithm>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "gemm.h"
#include "scratch.h"

namespace convlab::kernels {

namespace {
constexpr int64_t kColBlock = 256;
int64_t blocks(int64_t n, int64_t size) {
  return (n + size - 1) / size;
}
int64_t block_len(int64_t n, int64_t size, int64_t i) {
  return std::min(size, n - i * size);
}
}  // namespace

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                    const float* b, float* y) {
  // Task t: the partial product over IN columns [t * kColBlock, ...), summed below in block order.
  const int64_t tasks = blocks(IN, kColBlock);
  float* parts = scratch(2, static_cast<size_t>(tasks * N * OUT));
  parallel_for(tasks, [&](int64_t t) {
    const int64_t c0 = t * kColBlock, cols = block_len(IN, kColBlock, t);
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
