// 5x5 and 7x7 stride-1 convolutions by Winograd's minimal filtering F(2x2, 5x5) and F(2x2, 7x7)
// with tiles in the vector lanes (conv2d_winograd_f2x2.cpp), on AVX-512: 36 multiplications per
// 2x2 output tile and channel pair instead of 100, and 64 instead of 196.
#pragma once

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// AVX-512 active, stride 1, and
//   5x5: padding of at most 4, 32 channels or more in and out (where the transforms cost little
//        beside the multiplications they save), output planes of 8 x 8 or more (on 7 x 7 a quarter
//        of the tiles' outputs fall outside) and 64 tiles or more in the batch (fewer leave the
//        matrix products' columns half empty: an 8 x 8 plane at batch 1 has 16). From
//        bench/run.sh's layer tables, 2026-12-02, forward + backward against the direct kernel:
//        64 -> 64 on 16 x 16 1.65x (51 -> 31 ms at batch 64, 1 thread).
//   7x7: padding of at most 6, 16 channels or more in and out, planes of 8 x 8 or more, and
//        either 32 channels or more both ways or 100 output pixels or more (16 -> 16 on 8 x 8
//        lost: forward 0.63 -> 0.90 ms), 64 tiles in the batch. Forward, input and weight
//        gradient at batch 64, 1 thread, against the direct and channel-lane kernels (ms):
//        16 -> 32 on 16 x 16 4.02 / 5.40 / 3.82 -> 3.12 / 3.86 / 4.01; 16 -> 16 on 16 x 16 to
//        10 x 10 0.99 / 2.96 / 1.68 -> 1.32 / 2.03 / 1.49; 64 -> 64 on 16 x 16 30.0 / 30.4 / 31.4
//        -> 16.8 / 17.3 / 18.4; 32 -> 32 on 32 x 32 30.6 / 32.3 / 39.7 -> 23.3 / 20.4 / 29.3.
// (The same code ran F(2x2, 3x3) until F(4x4, 3x3) with channels in the lanes,
// conv2d_winograd3x3.cpp, beat it on every 3x3 shape.)
bool winograd_f2x2_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward (no fusion).
void conv2d_forward_winograd_f2x2(const Conv2dGeometry& g, const float* in, const float* w,
                                  const float* bias, float* out);
void conv2d_backward_winograd_f2x2(const Conv2dGeometry& g, const float* in, const float* w,
                                   const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
