// The bias gradient of a convolution, shared by the kernels that do not fold it into their own
// passes (im2col and channel-lane paths): per channel, each image's plane summed in float in 16
// interleaved lanes (element i into lane i mod 16; the lanes then in order, then the tail), the
// images' sums added in double in image order, the result added to gb. The lanes are what lets the
// compiler vectorise the sum: one running float sum is a chain of dependent additions (it took
// longer than the whole weight gradient of a 3 -> 32 stride-2 layer).
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

inline void conv2d_bias_grad(const Conv2dGeometry& g, const float* gout, float* gb) {
  const int64_t pixels = g.OH * g.OW;
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const float* src = gout + (n * g.O + o) * pixels;
      float lanes[16] = {};
      int64_t p = 0;
      for (; p + 16 <= pixels; p += 16)
        for (int l = 0; l < 16; ++l) lanes[l] += src[p + l];
      float part = 0;
      for (float v : lanes) part += v;
      for (; p < pixels; ++p) part += src[p];
      acc += part;
    }
    gb[o] += static_cast<float>(acc);
  }
}

}  // namespace convlab::kernels
