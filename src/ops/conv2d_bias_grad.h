// The bias gradient of a convolution, shared by the kernels that do not fold it into their own
// passes (im2col and channel-lane paths): per channel, each image's plane summed in float in 16
// interleaved lanes (element i into lane i mod 16; the lanes then in order, then the tail), the
// images' sums added in double in image order, the result added to gb. The lanes are what lets the
// compiler vectorise the sum: one running float sum is a chain of dependent additions (it took
// longer than the whole weight gradient of a 3 -> 32 stride-2 layer).
#pragma once

#include <vector>

#include "convlab/ops/conv2d.h"
#include "convlab/ops/parallel.h"

namespace convlab::kernels {

// One image's plane of one channel summed as above: 16 interleaved lanes, then the lanes in
// order, then the tail.
inline float bias_grad_plane_sum(const float* src, int64_t pixels) {
  float lanes[16] = {};
  int64_t p = 0;
  for (; p + 16 <= pixels; p += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += src[p + l];
  float part = 0;
  for (float v : lanes) part += v;
  for (; p < pixels; ++p) part += src[p];
  return part;
}

inline void conv2d_bias_grad(const Conv2dGeometry& g, const float* gout, float* gb) {
  const int64_t pixels = g.OH * g.OW;
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n)
      acc += bias_grad_plane_sum(gout + (n * g.O + o) * pixels, pixels);
    gb[o] += static_cast<float>(acc);
  }
}

// A fused ReLU's backward and the bias gradient in one pass: gz = gout where out > 0, else 0,
// each plane summed as it is written (still in L1), the images' sums then added as
// conv2d_bias_grad adds them: the same bits, one read of gz fewer, images across tasks.
inline void relu_backward_bias_grad(const Conv2dGeometry& g, const float* out, const float* gout,
                                    float* gz, float* gb) {
  const int64_t pixels = g.OH * g.OW;
  std::vector<float> parts(static_cast<size_t>(g.N * g.O));
  parallel_for(g.N, [&](int64_t n) {
    for (int64_t o = 0; o < g.O; ++o) {
      const int64_t at = (n * g.O + o) * pixels;
      for (int64_t p = 0; p < pixels; ++p) {
        const float v = gout[at + p];  // loaded unconditionally, so that the loop vectorises
        gz[at + p] = out[at + p] > 0.0f ? v : 0.0f;
      }
      parts[static_cast<size_t>(n * g.O + o)] = bias_grad_plane_sum(gz + at, pixels);
    }
  });
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) acc += parts[static_cast<size_t>(n * g.O + o)];
    gb[o] += static_cast<float>(acc);
  }
}

}  // namespace convlab::kernels
