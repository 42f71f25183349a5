// What a convolution kernel can apply to its output while it is in cache, before turning it from
// pixel-major to NCHW: an evaluation-mode BatchNorm and a ReLU, with the separate layers' own
// formulas, so the bits equal theirs. Shared by the channel-lane kernels (conv2d_lanes.cpp) and
// Winograd F(4x4, 3x3) (conv2d_winograd3x3.cpp).
#pragma once

#include <cstdint>

namespace convlab::kernels {

// On `pixels` rows of O channels, ld floats apart: z = float((double(z) - mean[o]) * scale[o] +
// shift[o]) rounded once per operation when bn is given (mean, scale and shift, bn_ld doubles
// apart), then max(z, 0) when relu (ReLU's results for NaN, 0, and -0, +0). AVX-512; lanes past O
// are left alone.
void conv_epilogue(int64_t pixels, int64_t O, const double* bn, int64_t bn_ld, bool relu,
                   float* rows, int64_t ld);

}  // namespace convlab::kernels
