// 5x5 stride-1 convolution by Winograd's minimal filtering F(2x2, 5x5) with tiles in the vector
// lanes (conv2d_winograd5x5.cpp), on AVX-512: 36 multiplications per 2x2 output tile and channel
// pair instead of 100.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// AVX-512 active, a 5x5 kernel at stride 1 with padding of at most 4, 32 channels or more in and
// out (where the transforms cost little beside the multiplications they save), output planes of
// 8 x 8 or more (on 7 x 7 a quarter of the tiles' outputs fall outside) and 64 tiles or more in
// the batch (fewer leave the matrix products' columns half empty: an 8 x 8 plane at batch 1 has
// 16). From bench/run.sh's layer tables, 2026-12-02, forward + backward against the direct
// kernel: 64 -> 64 on 16 x 16 1.65x (51 -> 31 ms at batch 64, 1 thread). (The same code ran
// F(2x2, 3x3) until F(4x4, 3x3) with channels in the lanes, conv2d_winograd3x3.cpp, beat it on
// every 3x3 shape.)
bool winograd5x5_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward (no fusion).
void conv2d_forward_winograd5x5(const Conv2dGeometry& g, const float* in, const float* w,
                                const float* bias, float* out);
void conv2d_backward_winograd5x5(const Conv2dGeometry& g, const float* in, const float* w,
                                 const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
