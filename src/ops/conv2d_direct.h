// Direct stride-1 convolution (conv2d_direct.cpp); conv2d_fast.cpp uses it where it applies.
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// Stride 1, kernel width up to 7, padding smaller than the kernel.
bool direct_conv_applies(const Conv2dGeometry& g);

void conv2d_forward_direct(const Conv2dGeometry& g, const float* in, const float* w,
                           const float* bias, float* out);
void conv2d_backward_direct(const Conv2dGeometry& g, const float* in, const float* w,
                            const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
