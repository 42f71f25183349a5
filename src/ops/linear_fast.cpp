// Linear as GEMM: y = x W^T + b, dW += gy^T x, dx = gy W.
#include <algorithm>

#include "convlab/ops/kernels.h"
#include "gemm.h"
#include "scratch.h"

namespace convlab::kernels {

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                    const float* b, float* y) {
  float* wT = scratch(0, static_cast<size_t>(IN * OUT));
  transpose(OUT, IN, w, IN, wT);  // (IN x OUT)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) y[n * OUT + o] = b ? b[o] : 0.0f;
  gemm_nn(N, OUT, IN, x, IN, wT, OUT, y, OUT, /*accumulate=*/true);
}

void linear_backward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                     const float* gy, float* gx, float* gw, float* gb) {
  if (gb)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) acc += gy[n * OUT + o];
      gb[o] += static_cast<float>(acc);
    }
  if (gw) {
    float* gyT = scratch(1, static_cast<size_t>(N * OUT));
    transpose(N, OUT, gy, OUT, gyT);  // (OUT x N)
    gemm_nn(OUT, IN, N, gyT, N, x, IN, gw, IN, /*accumulate=*/true);
  }
  if (gx) gemm_nn(N, IN, OUT, gy, OUT, w, IN, gx, IN, /*accumulate=*/false);
}

}  // namespace convlab::kernels
