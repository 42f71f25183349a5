// Convolution, by shape: Winograd F(4x4, 3x3) for 3x3 stride-1 layers of 16 channels and more
// (conv2d_winograd3x3.cpp), F(2x2, 5x5) and F(2x2, 7x7) for 5x5 and 7x7 ones (the shapes in
// conv2d_winograd_f2x2.h), and F(4x4, 3x3) on the polyphase form of 5x5 stride-2 ones
// (conv2d_polyphase.h), all AVX-512; channels in the vector lanes (conv2d_lanes.cpp, AVX-512:
// strided, 1x1 and small-plane convolutions with 16 output channels or more; 1x1 ones at stride 1
// and 2 whose output planes fill their vectors as matrix products on the planes,
// conv2d_pointwise.cpp); else stride 1 runs the direct kernels of conv2d_direct.cpp, other strides
// the same kernels through the polyphase form of conv2d_polyphase.cpp where it pays; the rest runs
// as GEMM: each image is unfolded (im2col) into a (C*KH*KW) x (OH*OW) matrix, so that forward is
// weight x columns, the weight gradient is grad_output x columns^T and the input gradient is
// weight^T x grad_output folded back (col2im).
#include <algorithm>
#include <stdexcept>

#include "conv2d_bias_grad.h"
#include "conv2d_direct.h"
#include "conv2d_lanes.h"
#include "conv2d_polyphase.h"
#include "conv2d_winograd3x3.h"
#include "conv2d_winograd_f2x2.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "gemm.h"
#include "scratch.h"

namespace convlab::kernels {

namespace {

// col[(c*KH + ky)*KW + kx][oy*OW + ox] = input[c][oy*SH - PH + ky][ox*SW - PW + kx], 0 outside.
void im2col(const Conv2dGeometry& g, const float* in, float* col) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        float* dst = col + ((c * g.KH + ky) * g.KW + kx) * P;
        const float* src = in + c * g.H * g.W;
        for (int64_t oy = 0; oy < g.OH; ++oy) {
          const int64_t iy = oy * g.SH - g.PH + ky;
          float* row = dst + oy * g.OW;
          if (iy < 0 || iy >= g.H) {
            std::fill(row, row + g.OW, 0.0f);
            continue;
          }
          const float* srow = src + iy * g.W;
          for (int64_t ox = 0; ox < g.OW; ++ox) {
            const int64_t ix = ox * g.SW - g.PW + kx;
            row[ox] = (ix >= 0 && ix < g.W) ? srow[ix] : 0.0f;
          }
        }
      }
}

// The adjoint of im2col: input[c][iy][ix] += col[...] for every place im2col read it from.
void col2im_add(const Conv2dGeometry& g, const float* col, float* in) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) {
        const float* src = col + ((c * g.KH + ky) * g.KW + kx) * P;
        float* dst = in + c * g.H * g.W;
        for (int64_t oy = 0; oy < g.OH; ++oy) {
          const int64_t iy = oy * g.SH - g.PH + ky;
          if (iy < 0 || iy >= g.H) continue;
          const float* row = src + oy * g.OW;
          float* drow = dst + iy * g.W;
          for (int64_t ox = 0; ox < g.OW; ++ox) {
            const int64_t ix = ox * g.SW - g.PW + kx;
            if (ix >= 0 && ix < g.W) drow[ix] += row[ox];
          }
        }
      }
}

}  // namespace

void conv2d_forward(const Conv2dGeometry& g, const float* in, const float* w, const float* bias,
                    float* out) {
  if (winograd3x3_conv_applies(g)) return conv2d_forward_winograd3x3(g, {}, in, w, bias, out);
  if (winograd_f2x2_conv_applies(g)) return conv2d_forward_winograd_f2x2(g, in, w, bias, out);
  if (polyphase_winograd_applies(g)) return conv2d_forward_polyphase(g, {}, in, w, bias, out);
  if (lanes_conv_applies(g)) return conv2d_forward_lanes(g, {}, in, w, bias, out);
  if (direct_conv_applies(g)) return conv2d_forward_direct(g, {}, in, w, bias, out, nullptr);
  if (polyphase_conv_applies(g)) return conv2d_forward_polyphase(g, {}, in, w, bias, out);
  const int64_t KK = g.C * g.KH * g.KW, P = g.OH * g.OW;
  parallel_for(g.N, [&](int64_t n) {  // one task per image
    float* col = scratch(0, static_cast<size_t>(KK * P));
    im2col(g, in + n * g.C * g.H * g.W, col);
    float* y = out + n * g.O * P;
    for (int64_t o = 0; o < g.O; ++o) std::fill(y + o * P, y + (o + 1) * P, bias ? bias[o] : 0.0f);
    gemm_nn(g.O, P, KK, w, KK, col, P, y, P, /*accumulate=*/true);
  });
}

void conv2d_backward(const Conv2dGeometry& g, const float* in, const float* w, const float* gout,
                     float* gin, float* gw, float* gb) {
  if (winograd3x3_conv_applies(g)) return conv2d_backward_winograd3x3(g, in, w, gout, gin, gw, gb);
  if (winograd_f2x2_conv_applies(g))
    return conv2d_backward_winograd_f2x2(g, in, w, gout, gin, gw, gb);
  if (polyphase_winograd_applies(g)) return conv2d_backward_polyphase(g, in, w, gout, gin, gw, gb);
  if (lanes_conv_applies(g)) return conv2d_backward_lanes(g, in, w, gout, gin, gw, gb);
  if (direct_conv_applies(g))
    return conv2d_backward_direct(g, {}, in, w, nullptr, nullptr, gout, gin, gw, gb);
  if (polyphase_conv_applies(g)) return conv2d_backward_polyphase(g, in, w, gout, gin, gw, gb);
  const int64_t KK = g.C * g.KH * g.KW, P = g.OH * g.OW;
  if (gb) conv2d_bias_grad(g, gout, gb);
  // Per image: its weight-gradient part (summed below in image order, whatever thread made it)
  // and its input gradient. The buffers belong to the calling thread.
  float* parts = gw ? scratch(4, static_cast<size_t>(g.N * g.O * KK)) : nullptr;
  float* wT = gin ? scratch(2, static_cast<size_t>(KK * g.O)) : nullptr;
  if (gin) transpose(g.O, KK, w, KK, wT);  // (KK x O)
  parallel_for(g.N, [&](int64_t n) {
    const float* gout_n = gout + n * g.O * P;
    if (gw) {
      float* col = scratch(0, static_cast<size_t>(KK * P));
      float* colT = scratch(1, static_cast<size_t>(KK * P));
      im2col(g, in + n * g.C * g.H * g.W, col);
      transpose(KK, P, col, P, colT);  // (P x KK)
      gemm_nn(g.O, KK, P, gout_n, P, colT, KK, parts + n * g.O * KK, KK, /*accumulate=*/false);
    }
    if (gin) {
      float* dcol = scratch(3, static_cast<size_t>(KK * P));
      gemm_nn(KK, P, g.O, wT, g.O, gout_n, P, dcol, P, /*accumulate=*/false);
      float* dst = gin + n * g.C * g.H * g.W;
      std::fill(dst, dst + g.C * g.H * g.W, 0.0f);
      col2im_add(g, dcol, dst);
    }
  });
  if (gw) add_parts_in_order(gw, parts, g.N, g.O * KK, g.O * KK);
}

bool conv2d_fusion_applies(const Conv2dGeometry& g, ConvFusion f) {
  // In the order conv2d_forward chooses kernels, so that a fused layer runs the kernel it would
  // run unfused (a 5x5 layer on 16 columns also fits the channel-lane rule). Winograd F(4x4, 3x3)
  // (also on a strided 5x5 layer's polyphase form) and the channel-lane kernels fuse ReLU and
  // BatchNorm, not pooling; F(2x2, 5x5 and 7x7) nothing.
  if (winograd3x3_conv_applies(g)) return !f.pool;
  if (winograd_f2x2_conv_applies(g)) return false;
  if (polyphase_winograd_applies(g)) return !f.pool;
  if (lanes_conv_applies(g)) return !f.pool;
  return direct_conv_applies(g) && (!f.pool || f.relu);
}

bool conv2d_chain_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                          ConvFusion fb) {
  // Only where each layer alone would run the same kernels: both Winograd F(4x4, 3x3), or both
  // the channel-lane ones (Winograd comes first).
  if (winograd3x3_chain_applies(a, fa, b, fb)) return true;
  const auto lanes_alone = [](const Conv2dGeometry& g) {
    return !winograd3x3_conv_applies(g) && !winograd_f2x2_conv_applies(g) &&
           !polyphase_winograd_applies(g) && lanes_conv_applies(g);
  };
  return lanes_alone(a) && lanes_alone(b) && conv2d_chain_lanes_applies(a, fa, b, fb);
}

void conv2d_forward_chain(const Conv2dGeometry& a, ConvFusion fa, const float* in, const float* wa,
                          const float* ba, const Conv2dGeometry& b, ConvFusion fb, const float* wb,
                          const float* bb, float* out) {
  if (!conv2d_chain_applies(a, fa, b, fb))
    throw std::logic_error("conv2d_forward_chain: the chain does not apply to these layers");
  if (winograd3x3_chain_applies(a, fa, b, fb))
    return conv2d_forward_chain_winograd3x3(a, fa, in, wa, ba, b, fb, wb, bb, out);
  conv2d_forward_chain_lanes(a, fa, in, wa, ba, b, fb, wb, bb, out);
}

void conv2d_forward_fused(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                          const float* bias, float* out, uint8_t* argmax) {
  if (!conv2d_fusion_applies(g, f))
    throw std::logic_error("conv2d_forward_fused: fusion does not apply to this geometry");
  if (winograd3x3_conv_applies(g)) return conv2d_forward_winograd3x3(g, f, in, w, bias, out);
  if (polyphase_winograd_applies(g)) return conv2d_forward_polyphase(g, f, in, w, bias, out);
  if (lanes_conv_applies(g)) return conv2d_forward_lanes(g, f, in, w, bias, out);
  conv2d_forward_direct(g, f, in, w, bias, out, argmax);
}

void conv2d_backward_fused(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                           const float* out, const uint8_t* argmax, const float* gout, float* gin,
                           float* gw, float* gb) {
  if (!conv2d_fusion_applies(g, f))
    throw std::logic_error("conv2d_backward_fused: fusion does not apply to this geometry");
  const bool winograd = winograd3x3_conv_applies(g), polyphase = polyphase_winograd_applies(g);
  if (winograd || polyphase || lanes_conv_applies(g)) {
    if (f.bn_scale)
      throw std::logic_error("conv2d_backward_fused: a fused BatchNorm is inference only");
    const auto backward = [&](const float* gz) {
      if (winograd) return conv2d_backward_winograd3x3(g, in, w, gz, gin, gw, gb);
      if (polyphase) return conv2d_backward_polyphase(g, in, w, gz, gin, gw, gb);
      conv2d_backward_lanes(g, in, w, gz, gin, gw, gb);
    };
    if (!f.relu) return backward(gout);
    // The gradient of the convolution's own output: ReLU's backward from the fused output (the
    // output is positive exactly where the convolution's was).
    const int64_t size = g.N * g.O * g.OH * g.OW;
    float* gz = scratch(7, static_cast<size_t>(size));
    if (!gb) {
      relu_backward(size, out, gout, gz);
      return backward(gz);
    }
    relu_backward_bias_grad(g, out, gout, gz, gb);
    gb = nullptr;  // done
    return backward(gz);
  }
  conv2d_backward_direct(g, f, in, w, out, argmax, gout, gin, gw, gb);
}

}  // namespace convlab::kernels
