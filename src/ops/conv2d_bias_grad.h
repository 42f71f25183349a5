// The bias gradient of a convolution, shared by the kernels that do not fold it into their own
// passes (im2col, channel-lane and Winograd paths): per channel, each image's plane summed in
// float in 16 interleaved lanes (element i into lane i mod 16; the lanes then in order, then the
// tail), the images' sums added in double in image order, the result added to gb. The lanes are
// what lets the sum vectorise: one running float sum is a chain of dependent additions (it took
// longer than the whole weight gradient of a 3 -> 32 stride-2 layer).
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

void conv2d_bias_grad(const Conv2dGeometry& g, const float* gout, float* gb);

// conv2d_bias_grad in two steps, for a kernel that reads each image's gradient anyway: image n's
// plane sums into parts[0, O) (parts of N x O in all), then the images' sums added to gb. The
// same additions in the same order: the same bits.
void conv2d_bias_grad_image(const Conv2dGeometry& g, const float* gout, int64_t n, float* parts);
void conv2d_bias_grad_add(const Conv2dGeometry& g, const float* parts, float* gb);

// A fused ReLU's backward and the bias gradient in one pass: gz = gout where out > 0, else 0,
// each plane summed as it is written (still in L1), the images' sums then added as
// conv2d_bias_grad adds them: the same bits, one read of gz fewer.
void relu_backward_bias_grad(const Conv2dGeometry& g, const float* out, const float* gout,
                             float* gz, float* gb);

}  // namespace convlab::kernels
