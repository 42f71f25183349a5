// Convolution with channels in the vector lanes (conv2d_lanes.cpp), on AVX-512: strided
// convolutions without the polyphase form's zero taps, 1x1 convolutions and small planes.
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// AVX-512 active, at least 16 output channels to fill the lanes, and a stride above 1, or 16 input
// channels or more with a 1x1 kernel, or output rows of at most 16 (with fewer input channels, when
// the row-vector kernels take the input gradient). The rule is the shape's alone.
bool lanes_conv_applies(const Conv2dGeometry& g);

// The contracts of kernels::conv2d_forward / conv2d_backward; forward also runs a fused ReLU and
// an evaluation-mode BatchNorm (f.pool must be false: pooling is not fused here).
void conv2d_forward_lanes(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                          const float* bias, float* out);
// The forward of a lanes layer with few output pixels in the batch (96 at most: batch 1, small
// planes) and four 32-channel blocks or more (97 output channels): a task per pair of blocks packs
// their weights itself and runs every pixel through them. By shape; the same bits as the other way.
bool lanes_weights_stationary(const Conv2dGeometry& g);
// Two convolutions image by image, a's output (with fa's ReLU and BatchNorm) passed to b
// pixel-major in cache and never written out: inference, where nothing else reads it. The same
// bits as conv2d_forward_lanes for a, then for b. Applies when both layers run on the lanes,
// neither pools, b's input is a's output, and each image is one task (parts_per_image: 8 images or
// more).
bool conv2d_chain_lanes_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                                ConvFusion fb);
void conv2d_forward_chain_lanes(const Conv2dGeometry& a, ConvFusion fa, const float* in,
                                const float* wa, const float* ba, const Conv2dGeometry& b,
                                ConvFusion fb, const float* wb, const float* bb, float* out);
void conv2d_backward_lanes(const Conv2dGeometry& g, const float* in, const float* w,
                           const float* gout, float* gin, float* gw, float* gb);

}  // namespace convlab::kernels
