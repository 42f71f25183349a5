// Strided convolution as a stride-1 one, so that the direct kernels run it (conv2d_polyphase.cpp).
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// Stride above 1 in some direction, and the stride-1 form small and dense enough to pay.
bool polyphase_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward.
void conv2d_forward_polyphase(const Conv2dGeometry& g, const float* in, const float* w,
                              const float* bias, float* out);
void conv2d_backward_polyphase(const Conv2dGeometry& g, const float* in, const float* w,
                               const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
