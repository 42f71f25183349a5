// The kernels of the layers that are not (yet) hot in the notebook's network: leaky ReLU, average
// pooling and adaptive average pooling (batch normalisation: batchnorm_fast.cpp). Each runs the
// reference loop on its share of the work, split by the problem (planes) never by the thread count,
// so the results equal the reference's bit for bit at any thread count. Vectorised versions belong
// to the performance issue; tests/kernels_test.cpp holds these to the reference either way.
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"

namespace convlab::kernels {

namespace {
constexpr int64_t kChunk = 1 << 14;  // elements per task of an elementwise op
}

void leaky_relu_forward(int64_t n, float slope, const float* x, float* y) {
  parallel_for((n + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t a = t * kChunk, len = std::min(kChunk, n - a);
    reference::leaky_relu_forward(len, slope, x + a, y + a);
  });
}

void leaky_relu_backward(int64_t n, float slope, const float* x, const float* gy, float* gx) {
  parallel_for((n + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t a = t * kChunk, len = std::min(kChunk, n - a);
    reference::leaky_relu_backward(len, slope, x + a, gy + a, gx + a);
  });
}

void avg_pool2d_forward(const Pool2dGeometry& g, bool count_include_pad, const float* in,
                        float* out) {
  Pool2dGeometry plane = g;
  plane.N = plane.C = 1;
  parallel_for_items(g.N * g.C, g.H * g.W, [&](int64_t p) {
    reference::avg_pool2d_forward(plane, count_include_pad, in + p * g.H * g.W,
                                  out + p * g.OH * g.OW);
  });
}

void avg_pool2d_backward(const Pool2dGeometry& g, bool count_include_pad, const float* gout,
                         float* gin) {
  Pool2dGeometry plane = g;
  plane.N = plane.C = 1;
  parallel_for_items(g.N * g.C, g.H * g.W, [&](int64_t p) {
    reference::avg_pool2d_backward(plane, count_include_pad, gout + p * g.OH * g.OW,
                                   gin + p * g.H * g.W);
  });
}

void adaptive_avg_pool2d_forward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const float* in, float* out) {
  parallel_for_items(NC, H * W, [&](int64_t p) {
    reference::adaptive_avg_pool2d_forward(1, H, W, OH, OW, in + p * H * W, out + p * OH * OW);
  });
}

void adaptive_avg_pool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const float* gout, float* gin) {
  parallel_for_items(NC, H * W, [&](int64_t p) {
    reference::adaptive_avg_pool2d_backward(1, H, W, OH, OW, gout + p * OH * OW, gin + p * H * W);
  });
}

}  // namespace convlab::kernels
