// 3x3 stride-1 convolution on small planes by Winograd's F(4x4, 3x3) with channels in the vector
// lanes (conv2d_winograd_small.cpp), on AVX-512: 36 multiplications per 4x4 output tile and
// channel pair instead of 144.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// AVX-512 active, a 3x3 kernel at stride 1 with padding of at most 2, 32 channels or more in and
// out, output planes from 4 x 4 to 8 x 8 (where conv2d_winograd.cpp's 2x2 tiles fill a quarter of
// its vectors' lanes), or up to 16 x 16 with 64 channels or more on one side. From bench/run.sh's
// layer tables (forward + backward, batch 64, 1 thread, 2026-12-02, against conv2d_winograd.cpp
// or the lane kernels before): small7's 64 -> 128 on 7 x 7 7.9-8.1 -> 4.5-4.9 ms, ResNet-20's
// 64 -> 64 on 8 x 8 3.7-5.3 -> 2.1-2.6 ms, vgg_style's 64 -> 64 on 16 x 16 12.6-13.0 -> 8.9-9.5 ms
// and 32 -> 64 7.3-7.6 -> 6.6-6.9 ms. Slower, so left out: 32 -> 32 on 16 x 16 (forward 1.2 ->
// 1.5 ms) and on 32 x 32 (4.2 -> 6.8 ms).
bool winograd_small_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward (no fusion).
void conv2d_forward_winograd_small(const Conv2dGeometry& g, const float* in, const float* w,
                                   const float* bias, float* out);
void conv2d_backward_winograd_small(const Conv2dGeometry& g, const float* in, const float* w,
                                    const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
