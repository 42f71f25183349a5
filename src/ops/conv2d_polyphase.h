// Strided convolution as a stride-1 one, so that the direct kernels run it (conv2d_polyphase.cpp).
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// Stride above 1 in some direction, and the stride-1 form small and dense enough to pay (on the
// direct kernels), or run by Winograd (polyphase_winograd_applies).
bool polyphase_conv_applies(const Conv2dGeometry& g);

// A 5x5 kernel at stride 2, padding at most 4, on output planes of 8 x 8 or more whose stride-1
// form (3x3, 4C channels) Winograd F(4x4, 3x3) runs (conv2d_winograd3x3.h: AVX-512, 4 input
// channels and 16 output channels or more, 16 tiles in the batch). Chosen before the channel-lane
// kernel. Forward, input gradient, weight gradient at batch 64, 1 thread, ms, the channel-lane
// kernel against this: 32 -> 64 on 16 x 16 1.99 / 2.19 / 2.10 -> 1.39 / 1.64 / 1.84; 8 -> 32 on 32
// x 32 1.10 / 2.98 / 1.05 -> 0.84 / 1.10 / 0.92; 64 -> 128 on 16 x 16 7.8 / 7.9 / 8.6 -> 5.2 / 6.0
// / 7.0. On 8 x 8 (4 x 4 out, one tile an image) 64 -> 64 lost: both gradients 2.28 -> 2.49 ms.
bool polyphase_winograd_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward_fused (fusion: on the Winograd route only, ReLU and
// BatchNorm) / conv2d_backward.
void conv2d_forward_polyphase(const Conv2dGeometry& g, ConvFusion f, const float* in,
                              const float* w, const float* bias, float* out);
void conv2d_backward_polyphase(const Conv2dGeometry& g, const float* in, const float* w,
                               const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
