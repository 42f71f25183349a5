// 1x1 convolutions at stride 1 and 2 as matrix products on the layer's own NCHW planes (AVX-512):
// forward out_n = w x in_n, input gradient gin_n = w^T x gout_n, pixels in the vector lanes, no
// turn of the results (conv2d_pointwise.cpp). At stride 2 the products run on the output's plane:
// the input's even pixels picked out, the input gradient's sums spread back with zeros between.
#pragma once

#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

// AVX-512 active, a 1x1 kernel at stride 1 or 2 (both ways) without padding, 16 channels or more
// in and out, and output planes that fill their vectors (the shape's rule; see the .cpp). The
// weight gradient stays with the channel-lane kernels.
bool pointwise_conv_applies(const Conv2dGeometry& g);

// kernels::conv2d_forward's contract, with a fused ReLU and evaluation-mode BatchNorm (f.pool
// false). The same bits as conv2d_forward_lanes: each output is the bias plus the products in
// input-channel order, one fused multiply-add each.
void conv2d_forward_pointwise(const Conv2dGeometry& g, ConvFusion f, const float* in,
                              const float* w, const float* bias, float* out);

// gin = the input gradient (overwritten): the products in output-channel order from zero, as
// conv2d_backward_lanes sums them.
void conv2d_input_grad_pointwise(const Conv2dGeometry& g, const float* w, const float* gout,
                                 float* gin);

// The same one image at a time, for a caller that reads each image's gradient anyway (the
// channel-lane weight gradient): w^T packed once (scratch slot 5), then image n's input gradient
// in the calling thread (its scratch slot 0). The same sums, so the same bits.
const float* pack_input_grad_pointwise(const Conv2dGeometry& g, const float* w);
void input_grad_pointwise_image(const Conv2dGeometry& g, const float* packed, const float* gout,
                                int64_t n, float* gin);

}  // namespace convlab::kernels
