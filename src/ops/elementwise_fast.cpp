// Ops whose plain loops are already memory-bound: the fast kernel is the reference, in float.
#include "convlab/ops/kernels.h"
#include "convlab/ops/reference.h"

namespace convlab::kernels {

void relu_forward(int64_t n, const float* x, float* y) {
  reference::relu_forward(n, x, y);
}
void relu_backward(int64_t n, const float* x, const float* gy, float* gx) {
  reference::relu_backward(n, x, gy, gx);
}

void max_pool2d_forward(const Pool2dGeometry& g, const float* in, float* out) {
  reference::max_pool2d_forward(g, in, out);
}
void max_pool2d_backward(const Pool2dGeometry& g, const float* in, const float* gout, float* gin) {
  reference::max_pool2d_backward(g, in, gout, gin);
}

void channel_sum_forward(int64_t N, int64_t C, int64_t HW, const float* x, float* y) {
  reference::channel_sum_forward(N, C, HW, x, y);
}
void channel_sum_backward(int64_t N, int64_t C, int64_t HW, const float* gy, float* gx) {
  reference::channel_sum_backward(N, C, HW, gy, gx);
}

}  // namespace convlab::kernels
