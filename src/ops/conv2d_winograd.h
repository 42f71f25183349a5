// 3x3 and 5x5 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) and F(2x2, 5x5)
// (conv2d_winograd.cpp), on AVX-512: 16 multiplications per 2x2 output tile and channel pair
// instead of 36, 36 instead of 100.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// AVX-512 active, a 3x3 or 5x5 kernel at stride 1 with padding of at most its size - 1, 32
// channels or more in and out (where the transforms cost little beside the multiplications they
// save), output planes of 8 x 8 or more (on 7 x 7 a quarter of the tiles' outputs fall outside and
// the lanes kernels keep up) and 64 tiles or more in the batch (fewer leave the matrix products'
// columns half empty: an 8 x 8 plane at batch 1 has 16). From bench/run.sh's layer tables,
// 2026-12-02, forward + backward against the direct kernel: 3x3, 64 -> 64 channels on 16 x 16
// 1.57x, 32 -> 64 1.45x, ResNet-20's 8 x 8 and 16 x 16 stages 1.1-1.2x, 32 -> 32 on 32 x 32 1.07x,
// 64 -> 128 on 7 x 7 0.98x; 5x5, 64 -> 64 on 16 x 16 1.65x (51 -> 31 ms at batch 64, 1 thread).
bool winograd_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward (no fusion).
void conv2d_forward_winograd(const Conv2dGeometry& g, const float* in, const float* w,
                             const float* bias, float* out);
void conv2d_backward_winograd(const Conv2dGeometry& g, const float* in, const float* w,
                              const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
