// The bias gradient of a convolution, shared by the kernels that do not fold it into their own
// passes (im2col and channel-lane paths): per channel, each image's plane summed in float, the
// images' sums added in double in image order, the result added to gb.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

inline void conv2d_bias_grad(const Conv2dGeometry& g, const float* gout, float* gb) {
  const int64_t pixels = g.OH * g.OW;
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const float* src = gout + (n * g.O + o) * pixels;
      float part = 0;
      for (int64_t p = 0; p < pixels; ++p) part += src[p];
      acc += part;
    }
    gb[o] += static_cast<float>(acc);
  }
}

}  // namespace convlab::kernels
