// Direct stride-1 convolution (conv2d_direct.cpp); conv2d_fast.cpp uses it where it applies.
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// Stride 1, kernel width up to 7, padding smaller than the kernel.
bool direct_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward_fused / conv2d_backward_fused.
void conv2d_forward_direct(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                           const float* bias, float* out, uint8_t* argmax);
void conv2d_backward_direct(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                            const float* out, const uint8_t* argmax, const float* grad, float* gin,
                            float* gw, float* gb);

}  // namespace convlab::kernels
