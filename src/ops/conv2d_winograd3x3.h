// 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) with channels in the vector lanes
// (conv2d_winograd3x3.cpp), on AVX-512: 36 multiplications per 4x4 output tile and channel pair
// instead of 144.
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// AVX-512 active, a 3x3 kernel at stride 1 with padding of at most 2, 16 channels or more in and
// out, output planes of 4 x 4 or more, 16 tiles or more in the batch. It first took planes up
// to 8 x 8 (and 16 x 16 with 64 channels); once the GEMM's kernel for blocks up to 32 columns
// wide stopped spilling its accumulators (gemm.cpp), it beat everything else on every 3x3
// stride-1 shape measured, forward + backward, batch 64, 1 thread, 2026-12-02 (bench/README.md):
// 16 -> 16 on 32 x 32 7.7 -> 5.6-5.9 ms and on 8 x 8 0.64 -> 0.30 ms (direct kernel before),
// 32 -> 32 on 16 x 16 5.0 -> 3.5-3.6 ms, 32 -> 32 on 32 x 32 20 -> 15.3-15.6 ms, 64 -> 64 on
// 32 x 32 62 -> 50 ms and 128 -> 128 on 32 x 32 230 -> 161 ms (F(2x2, 3x3) with tiles in the
// lanes before, since removed), 16 -> 32 on 32 x 32 16.5 -> 9.8 ms; at 2 threads likewise; at
// batch 1 forward 10-35 % faster. Batches of fewer than 16 tiles go to the channel-lane kernels:
// the kernels' transform per call outweighs the saving there (batch-1 inference, 2026-12-02:
// small7 6387 -> 10217 images/s, ResNet-20 1178 -> 1384, vgg_bn 1392 -> 1630).
bool winograd3x3_conv_applies(const Conv2dGeometry& g);

// A stride-2 layer run as the stride-1 form of its four phases (conv2d_polyphase.cpp), read
// straight from the layer's planes: the form's channel (py * 2 + px) * C + c at its phase pixel
// (i, j) (i counted from the form's first phase row i0, j from j0) is the layer's channel c at
// (2 (i + i0) + py - PH, 2 (j + j0) + px - PW), zero outside the layer's plane. Its input gradient
// goes back to the layer's planes the same way, each layer pixel from its one phase pixel. (The
// phases had been split into planes of their own first and gathered back after: two more passes
// over the input and its gradient, 15 % of a 32 -> 64 5x5 stride-2 layer's training step.)
struct PhaseInput {
  int64_t C, H, W, PH, PW;  // the layer's input channels, plane and padding
  int64_t i0, j0;           // the form's first phase row and column
};

// The contracts of kernels::conv2d_forward (with a fused ReLU or evaluation BatchNorm, not
// pooling) and conv2d_backward (no fusion); with `phases`, g is the stride-1 form, `in` and `gin`
// the layer's planes (N x phases->C x phases->H x phases->W).
void conv2d_forward_winograd3x3(const Conv2dGeometry& g, ConvFusion f, const float* in,
                                const float* w, const float* bias, float* out,
                                const PhaseInput* phases = nullptr);
// Inference chains: two layers of this kind in a row (the first's output feeding only the
// second, as in a residual block's body), the first's output handed over pixel-major in cache
// rather than written out in planes. The same bits as the layers one by one.
bool winograd3x3_chain_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                               ConvFusion fb);
void conv2d_forward_chain_winograd3x3(const Conv2dGeometry& a, ConvFusion fa, const float* in,
                                      const float* wa, const float* ba, const Conv2dGeometry& b,
                                      ConvFusion fb, const float* wb, const float* bb, float* out);
void conv2d_backward_winograd3x3(const Conv2dGeometry& g, const float* in, const float* w,
                                 const float* gout, float* gin, float* gw, float* gb,
                                 const PhaseInput* phases = nullptr);

}  // namespace convlab::kernels
