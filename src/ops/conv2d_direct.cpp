// Direct convolution for stride 1, the shape of every convolution in the notebooks' networks.
//
// Vectors run along the output row: one register holds VL neighbouring output pixels of one
// channel, and each weight is broadcast. A micro-kernel keeps a CB-channel x NV-vector block of
// outputs in registers for the whole sum over input channels and taps, so every loaded input
// vector feeds CB fused multiply-adds. The input is first copied into a zero-bordered buffer whose
// rows are long enough for whole vectors, so the inner loops have no edge tests.
//
//   forward        out[o][y][x]  = b[o] + sum_{c,i,j} w[o][c][i][j] * in[c][y+i-PH][x+j-PW]
//   input grad     the same kernel on grad_output, with weights transposed to (C, O) and flipped,
//                  and padding K-1-P: gin[c][y][x] = sum_{o,i,j} w[o][c][i][j] *
//                  gout[o][y+PH-i][x+PW-j]
//   weight grad    gw[o][c][i][j] = sum_{y,x} gout[o][y][x] * in[c][y+i-PH][x+j-PW], vectors along
//   x
//                  summed across lanes at the end of each image.
//
// A ReLU, or a ReLU and 2x2 max pooling (pool2x2.h), that follow the convolution run on each image
// while it is in cache (ConvFusion); backward then rebuilds the gradient of the convolution's own
// output per image from the kept window positions.
//
// Every output element is made by one task in a fixed order of operations (the order of the sum
// above, then a fixed lane tree), and per-image parameter-gradient parts are added in image order,
// so results do not depend on the thread count. The vector width is chosen once at run time:
// AVX-512 (16 floats), AVX2 (8) or a portable 4-float build.
#include "conv2d_direct.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "pool2x2.h"
#include "scratch.h"
#include "simd.h"

namespace convlab::kernels {

namespace {

using namespace simd;

constexpr int kMaxKernelWidth = 7;  // widths the weight gradient is instantiated for

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// A stride-1 correlation problem on one image: `src` (C, H, W) padded by (PH, PW) and correlated
// with K (O, C, KH, KW) gives (O, OH, OW). Forward and input gradient are both this.
struct Correlation {
  int64_t C, H, W, O, KH, KW, PH, PW, OH, OW;
};

// Zeros after the last padded plane: the flat layout's discarded positions read past it.
int64_t flat_slack(int64_t RS) {
  return 4 * RS + 128;
}

// `count` images (C, H, W), `stride` floats apart, copied into a zeroed (C, count, H + 2PH, RS)
// buffer at (PH, PW): each channel's padded planes one after another. RS is long enough for the
// widest vector load of any output chunk (or, flat, at least W + 2PW, and zeros follow the last
// plane).
float* padded_copy(const Correlation& p, const float* src, int64_t RS, int slot, int64_t count = 1,
                   int64_t stride = 0) {
  const int64_t plane = (p.H + 2 * p.PH) * RS, slack = flat_slack(RS);
  const int64_t total = p.C * count * plane;
  float* buf = scratch(slot, static_cast<size_t>(total + slack));
  std::fill(buf, buf + total + slack, 0.0f);
  for (int64_t c = 0; c < p.C; ++c)
    for (int64_t k = 0; k < count; ++k)
      copy_rows(src + k * stride + c * p.H * p.W, p.W,
                buf + (c * count + k) * plane + p.PH * RS + p.PW, RS, p.H, p.W);
  return buf;
}

// Weights (O, C, KH, KW), or their flipped transpose, packed as blocks of CB output channels:
// packed[((ob * C + c) * KH + i) * KW + j][cb]; channels past O are zero.
template <int CB>
float* pack_weights(const Correlation& p, const float* w, bool flip_transpose, int slot) {
  const int64_t blocks = (p.O + CB - 1) / CB, taps = p.KH * p.KW;
  float* packed = scratch(slot, static_cast<size_t>(blocks * p.C * taps * CB));
  for (int64_t ob = 0; ob < blocks; ++ob)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t cb = 0; cb < CB; ++cb) {
          const int64_t o = ob * CB + cb;
          float v = 0.0f;
          if (o < p.O) {
            // flip_transpose: p.O counts the original input channels and p.C the original outputs.
            v = flip_transpose ? w[(c * p.O + o) * taps + (taps - 1 - t)]
                               : w[(o * p.C + c) * taps + t];
          }
          packed[((ob * p.C + c) * taps + t) * CB + cb] = v;
        }
  return packed;
}

// One block: CB channels from o0, NV vectors from x0 on output row y, all of C, KH, KW summed.
// With AVX-512 each row of taps loads NV + 1 vectors and makes the shifted inputs of taps 1 ..
// KW - 1 in registers (shifted16, one valignd each): loads at those offsets split across cache
// lines, and the 8-channel x 2-vector 3x3 block ran at 136-143 GFLOP/s in L1 where the shifted
// form runs at 156-159. The same vectors either way, so the same sums. The extra vector reads at
// most VL floats past what the taps reach: the next row, or the slack after the last plane.
template <int VL, int CB, int NV, int KW>
CONVLAB_INLINE void correlate_block(const Correlation& p, const float* pad, int64_t RS,
                                    const float* wblock, const float* bias, int64_t o0, int64_t y,
                                    int64_t x0, float* out) {
  vec<VL> acc[CB][NV];
#pragma GCC unroll 16
  for (int cb = 0; cb < CB; ++cb) {
    const float b = bias && o0 + cb < p.O ? bias[o0 + cb] : 0.0f;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[cb][v] = vec<VL>{} + b;
  }
  const int64_t plane = (p.H + 2 * p.PH) * RS;
  const float* w = wblock;
  constexpr bool kShift = VL == 16 && KW > 1;
  for (int64_t c = 0; c < p.C; ++c)
    for (int64_t i = 0; i < p.KH; ++i, w += KW * CB) {
      const float* row = pad + c * plane + (y + i) * RS + x0;
      vec<VL> a[NV + 1];
#pragma GCC unroll 4
      for (int v = 0; v < NV + (kShift ? 1 : 0); ++v) a[v] = load<VL>(row + v * VL);
      // Tap J of the row, J a constant (the shift is an immediate).
      const auto tap = [&]<int J>() CONVLAB_LAMBDA_INLINE {
        vec<VL> x[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          if constexpr (J == 0)
            x[v] = a[v];
          else if constexpr (kShift)
            x[v] = shifted16<J>(a[v], a[v + 1]);
          else
            x[v] = load<VL>(row + J + v * VL);
        }
#pragma GCC unroll 16
        for (int cb = 0; cb < CB; ++cb) {
          const float s = w[J * CB + cb];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[cb][v] += s * x[v];
        }
      };
      [&]<int... J>(std::integer_sequence<int, J...>) CONVLAB_LAMBDA_INLINE {
        (tap.template operator()<J>(), ...);
      }
      (std::make_integer_sequence<int, KW>{});
    }
  const int64_t out_plane = p.OH * p.OW;
#pragma GCC unroll 16
  for (int cb = 0; cb < CB; ++cb) {
    if (o0 + cb >= p.O) break;
    float* dst = out + (o0 + cb) * out_plane + y * p.OW + x0;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) store<VL>(dst + v * VL, acc[cb][v], p.OW - x0 - v * VL);
  }
}

template <int VL, int CB, int NV, int KW>
CONVLAB_INLINE void correlate_image_kw(const Correlation& p, const float* pad, int64_t RS,
                                       const float* packed, const float* bias, float* out) {
  const int64_t taps = p.KH * p.KW;
  // Rows outermost: the blocks of channels of an output row read the same few input rows, still
  // in L1 (the notebook's 8 -> 16 layer forward 1.29 -> 1.23 ms, batch 64).
  for (int64_t y = 0; y < p.OH; ++y)
    for (int64_t o0 = 0; o0 < p.O; o0 += CB) {
      const float* wblock = packed + (o0 / CB) * p.C * taps * CB;
      int64_t x0 = 0;
      for (; x0 + (NV - 1) * VL < p.OW; x0 += NV * VL)
        correlate_block<VL, CB, NV, KW>(p, pad, RS, wblock, bias, o0, y, x0, out);
      for (; x0 < p.OW; x0 += VL)
        correlate_block<VL, CB, 1, KW>(p, pad, RS, wblock, bias, o0, y, x0, out);
    }
}

// The kernel width is a template argument (it unrolls the taps of a row and picks their shifts):
// one instance for each width 1 .. kMaxKernelWidth, the one matching p.KW runs.
template <int VL, int CB, int NV, int KW = 1>
CONVLAB_INLINE void correlate_image(const Correlation& p, const float* pad, int64_t RS,
                                    const float* packed, const float* bias, float* out) {
  if constexpr (KW <= kMaxKernelWidth) {
    if (p.KW == KW) return correlate_image_kw<VL, CB, NV, KW>(p, pad, RS, packed, bias, out);
    correlate_image<VL, CB, NV, KW + 1>(p, pad, RS, packed, bias, out);
  } else {
    throw std::logic_error("direct convolution: kernel width above kMaxKernelWidth");
  }
}

// Weight and bias gradient of one image, written (not added) to part: (O, C, KH, KW) then (O).
// `pad` is the image's padded input, `g` its grad_output with rows of GS >= round_up(OW, VL)
// floats, zero past OW.
template <int VL, int CB, int KW>
CONVLAB_INLINE void weight_grad_image(const Correlation& p, const float* pad, int64_t RS,
                                      const float* g, int64_t GS, float* part) {
  const int64_t plane = (p.H + 2 * p.PH) * RS, gplane = p.OH * GS, taps = p.KH * KW;
  for (int64_t o0 = 0; o0 < p.O; o0 += CB) {
    const float* gch[CB];  // channels past O repeat the last one; their sums are not kept
    for (int cb = 0; cb < CB; ++cb) gch[cb] = g + std::min<int64_t>(o0 + cb, p.O - 1) * gplane;
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.KH; ++i) {
        vec<VL> acc[CB][KW] = {};
        for (int64_t y = 0; y < p.OH; ++y) {
          const float* row = pad + c * plane + (y + i) * RS;
          for (int64_t x0 = 0; x0 < p.OW; x0 += VL) {
            // Two aligned loads and in-register shifts rather than KW loads across cache lines.
            const vec<VL> cur = load<VL>(row + x0), next = load<VL>(row + x0 + VL);
            vec<VL> x[KW];
            [&]<int... J>(std::integer_sequence<int, J...>) CONVLAB_LAMBDA_INLINE {
              ((x[J] = KW <= VL ? shifted_by<VL, (J < VL ? J : 0)>(cur, next)
                                : load<VL>(row + x0 + J)),
               ...);
            }
            (std::make_integer_sequence<int, KW>{});
#pragma GCC unroll 16
            for (int cb = 0; cb < CB; ++cb) {
              vec<VL> gv = load<VL>(gch[cb] + y * GS + x0);
              in_register(gv);
#pragma GCC unroll 8
              for (int j = 0; j < KW; ++j) acc[cb][j] += gv * x[j];
            }
          }
        }
        float sums[CB * KW];
        lane_sums<VL, CB * KW>(&acc[0][0], sums);
        for (int cb = 0; cb < CB && o0 + cb < p.O; ++cb)
          for (int j = 0; j < KW; ++j)
            part[((o0 + cb) * p.C + c) * taps + i * KW + j] = sums[cb * KW + j];
      }
  }
  float* gb = part + p.O * p.C * taps;
  for (int64_t o = 0; o < p.O; ++o) {
    vec<VL> acc = {};
    for (int64_t y = 0; y < p.OH; ++y)
      for (int64_t x0 = 0; x0 < p.OW; x0 += VL) acc += load<VL>(g + o * gplane + y * GS + x0);
    gb[o] = lane_sum<VL>(acc);
  }
}

// Register blocking per vector width: CB output channels x NV vectors of accumulators for the
// correlation; for the weight gradient, kWeightGradAccumulators / KW channels x KW taps. Both leave
// room for the loaded operands (32 vector registers with AVX-512, 16 with AVX2 and SSE).
template <int VL>
struct Blocking {
  static constexpr int CB = VL == 16 ? 8 : 4;
  static constexpr int NV = 2;
  static constexpr int kWeightGradAccumulators = VL == 16 ? 24 : 12;
};

// The gradient with respect to one image's convolution output z (planes, H, W), from the gradient
// of the fused chain's output: what ReLU's and MaxPool2d's backward would give, written to every
// element of gz. The pooled value is the ReLU of the window's winner, so it is positive exactly
// where the ReLU passes the gradient.
template <int VL>
CONVLAB_INLINE void output_grad_image(ConvFusion f, int64_t planes, int64_t H, int64_t W,
                                      const float* out, const uint8_t* arg, const float* grad,
                                      float* gz) {
  const vec<VL> zero = {};
  if (!f.pool) {
    const int64_t size = planes * H * W;
    int64_t i = 0;
    for (; i + VL <= size; i += VL) {
      const vec<VL> o = load<VL>(out + i), g = load<VL>(grad + i);
      const vec<VL> r = o > zero ? g : zero;
      std::memcpy(gz + i, &r, sizeof r);
    }
    for (; i < size; ++i) gz[i] = out[i] > 0.0f ? grad[i] : 0.0f;
    return;
  }
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t y = 0; y < OH; ++y) {
      float* r0 = gz + (c * H + 2 * y) * W;
      float* r1 = r0 + W;
      const int64_t i0 = (c * OH + y) * OW;
      pool2x2::relu_backward_row<VL>(out + i0, arg + i0, grad + i0, OW, r0, r1);
      for (int64_t x = 2 * OW; x < W; ++x) r0[x] = r1[x] = 0.0f;  // odd width: in no window
    }
    if (H % 2) std::fill(gz + (c * H + H - 1) * W, gz + (c + 1) * H * W, 0.0f);
  }
}

// The convolution of one image, then the fused ReLU (in place, while the image is in cache) or
// ReLU and pooling (from a scratch buffer into `out` and `arg`).
//
// Flat: the image's rows are too short for whole blocks of vectors, so the vectors run along the
// flattened padded plane instead: output position p = y * RS + x reads input p + i * RS + j, the
// same as the row form for x < OW; the positions x >= OW are computed and dropped. Each kept
// element has the same sum in the same order as in the row form.
template <int VL>
CONVLAB_INLINE void forward_image(const Correlation& p, ConvFusion f, bool flat, const float* src,
                                  int64_t RS, const float* packed, const float* bias, float* out,
                                  uint8_t* arg) {
  using B = Blocking<VL>;
  const float* pad = padded_copy(p, src, RS, 0);
  const int64_t size = p.O * p.OH * p.OW;
  float* z = f.pool ? scratch(3, static_cast<size_t>(size)) : out;
  if (flat) {
    Correlation q = p;
    q.OH = 1;
    q.OW = p.OH * RS;
    float* wide = scratch(6, static_cast<size_t>(p.O * q.OW));
    correlate_image<VL, B::CB, B::NV>(q, pad, RS, packed, bias, wide);
    for (int64_t o = 0; o < p.O; ++o)
      copy_rows(wide + o * q.OW, RS, z + o * p.OH * p.OW, p.OW, p.OH, p.OW);
  } else {
    correlate_image<VL, B::CB, B::NV>(p, pad, RS, packed, bias, z);
  }
  if (f.bn_scale) {  // BatchNorm (evaluation mode) while the image is in cache
    const int64_t plane = p.OH * p.OW;
    for (int64_t o = 0; o < p.O; ++o) {
      const double m = f.bn_mean[o], scale = f.bn_scale[o], shift = f.bn_shift[o];
      float* zo = z + o * plane;
      for (int64_t i = 0; i < plane; ++i)
        zo[i] = static_cast<float>((static_cast<double>(zo[i]) - m) * scale + shift);
    }
  }
  if (f.pool) {
    const int64_t PH = p.OH / 2, PW = p.OW / 2;
    for (int64_t c = 0; c < p.O; ++c)
      for (int64_t y = 0; y < PH; ++y) {
        const float* r0 = z + (c * p.OH + 2 * y) * p.OW;
        const int64_t i0 = (c * PH + y) * PW;
        pool2x2::forward_row<VL, /*kRelu=*/true>(r0, r0 + p.OW, PW, out + i0, arg + i0);
      }
  } else if (f.relu) {
    for (int64_t i = 0; i < size; ++i) z[i] = z[i] > 0.0f ? z[i] : 0.0f;
  }
}

template <int VL, int KW>
CONVLAB_INLINE void weight_grad_kw(const Correlation& p, const float* pad, int64_t RS,
                                   const float* g, int64_t GS, float* part) {
  constexpr int CB = std::max(1, Blocking<VL>::kWeightGradAccumulators / KW);
  weight_grad_image<VL, CB, KW>(p, pad, RS, g, GS, part);
}

// The kernel width is a template argument (it sizes the register block): one instance for each
// width 1 .. kMaxKernelWidth, the one matching p.KW runs.
template <int VL, int KW = 1>
CONVLAB_INLINE void weight_grad_width(const Correlation& p, const float* pad, int64_t RS,
                                      const float* g, int64_t GS, float* part) {
  if constexpr (KW <= kMaxKernelWidth) {
    if (p.KW == KW) return weight_grad_kw<VL, KW>(p, pad, RS, g, GS, part);
    weight_grad_width<VL, KW + 1>(p, pad, RS, g, GS, part);
  } else {
    throw std::logic_error("direct convolution: kernel width above kMaxKernelWidth");
  }
}

// Flat (rows shorter than a block of vectors): as forward_image's flat form, the sums run along
// the flattened padded plane, with the gradient laid out in rows of RS (zeros past OW). `count`
// images (`stride` and `gstride` floats apart) are stacked plane after plane and summed as one,
// so that the lane sums that end each (channel, row of taps) are shared by the group; positions
// between the images read zero gradients.
template <int VL>
CONVLAB_INLINE void weight_grad(const Correlation& p, bool flat, int64_t count, const float* src,
                                int64_t stride, int64_t RS, const float* gout, int64_t gstride,
                                int64_t GS, float* part) {
  const float* pad = padded_copy(p, src, RS, 0, flat ? count : 1, stride);
  const float* g = gout;
  if (flat) {
    const int64_t plane = (p.H + 2 * p.PH) * RS;
    Correlation q = p;
    q.H = count * (p.H + 2 * p.PH) - 2 * p.PH;  // the stacked planes as one tall image
    q.OH = 1;
    q.OW = (count - 1) * plane + p.OH * RS;  // up to the last image's last output row
    const int64_t FS = round_up(q.OW, VL);
    float* buf = scratch(1, static_cast<size_t>(p.O * FS));
    std::fill(buf, buf + p.O * FS, 0.0f);
    for (int64_t o = 0; o < p.O; ++o)
      for (int64_t k = 0; k < count; ++k)
        copy_rows(gout + k * gstride + o * p.OH * p.OW, p.OW, buf + o * FS + k * plane, RS, p.OH,
                  p.OW);
    return weight_grad_width<VL>(q, pad, RS, buf, FS, part);
  }
  if (GS != p.OW) {  // rows padded to whole vectors, zero past OW
    float* buf = scratch(1, static_cast<size_t>(p.O * p.OH * GS));
    std::fill(buf, buf + p.O * p.OH * GS, 0.0f);
    copy_rows(gout, p.OW, buf, GS, p.O * p.OH, p.OW);
    g = buf;
  }
  weight_grad_width<VL>(p, pad, RS, g, GS, part);
}

struct ImageKernels {
  int VL, CB, NV;
  void (*forward)(const Correlation&, ConvFusion, bool, const float*, int64_t, const float*,
                  const float*, float*, uint8_t*);
  void (*weight_grad)(const Correlation&, bool, int64_t, const float*, int64_t, int64_t,
                      const float*, int64_t, int64_t, float*);
  void (*output_grad)(ConvFusion, int64_t, int64_t, int64_t, const float*, const uint8_t*,
                      const float*, float*);
};

// One entry per instruction set; `flatten` compiles everything it calls for that target.
#define ISA_ENTRIES(NAME, TARGET, VL)                                                           \
  TARGET __attribute__((flatten)) void forward_##NAME(                                          \
      const Correlation& p, ConvFusion f, bool flat, const float* src, int64_t RS,              \
      const float* packed, const float* bias, float* out, uint8_t* arg) {                       \
    forward_image<VL>(p, f, flat, src, RS, packed, bias, out, arg);                             \
  }                                                                                             \
  TARGET __attribute__((flatten)) void weight_grad_##NAME(                                      \
      const Correlation& p, bool flat, int64_t count, const float* src, int64_t stride,         \
      int64_t RS, const float* gout, int64_t gstride, int64_t GS, float* part) {                \
    weight_grad<VL>(p, flat, count, src, stride, RS, gout, gstride, GS, part);                  \
  }                                                                                             \
  TARGET __attribute__((flatten)) void output_grad_##NAME(                                      \
      ConvFusion f, int64_t planes, int64_t H, int64_t W, const float* out, const uint8_t* arg, \
      const float* grad, float* gz) {                                                           \
    output_grad_image<VL>(f, planes, H, W, out, arg, grad, gz);                                 \
  }                                                                                             \
  constexpr ImageKernels NAME##_kernels{VL,                                                     \
                                        Blocking<VL>::CB,                                       \
                                        Blocking<VL>::NV,                                       \
                                        forward_##NAME,                                         \
                                        weight_grad_##NAME,                                     \
                                        output_grad_##NAME};

ISA_ENTRIES(avx512, __attribute__((target("arch=x86-64-v4"))), 16)
ISA_ENTRIES(avx2, __attribute__((target("arch=x86-64-v3"))), 8)
ISA_ENTRIES(generic, , 4)

const ImageKernels& image_kernels() {
  switch (active_isa()) {
    case Isa::avx512:
      return avx512_kernels;
    case Isa::avx2:
      return avx2_kernels;
    default:
      return generic_kernels;
  }
}

float* pack(const ImageKernels& k, const Correlation& p, const float* w, bool flip_transpose) {
  return k.CB == 8 ? pack_weights<8>(p, w, flip_transpose, 5)
                   : pack_weights<4>(p, w, flip_transpose, 5);
}

// Row length of padded buffers: the forward blocks read whole blocks of NV vectors plus the
// kernel's reach; the weight gradient reads the vector after each one. A multiple of VL, so that
// every row starts on a vector boundary of the aligned scratch.
int64_t padded_row(const ImageKernels& k, int64_t width, int64_t KW) {
  return round_up(std::max(round_up(width, k.NV * k.VL) + KW - 1, round_up(width, k.VL) + k.VL),
                  k.VL);
}

// Flat forms (forward_image, weight_grad): when an output row cannot fill a block of NV vectors.
// Flat rows are just W + 2PW long.
bool flat_forward(const ImageKernels& k, const Correlation& p) {
  return p.OW < k.NV * k.VL;
}
bool flat_weight_grad(const ImageKernels& k, const Correlation& p) {
  return p.OW < k.NV * k.VL;
}
int64_t row_length(const ImageKernels& k, const Correlation& p, bool flat) {
  return flat ? p.W + 2 * p.PW : padded_row(k, p.OW, p.KW);
}

}  // namespace

bool direct_conv_applies(const Conv2dGeometry& g) {
  return g.SH == 1 && g.SW == 1 && g.KW <= kMaxKernelWidth && g.PH < g.KH && g.PW < g.KW;
}

void conv2d_forward_direct(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                           const float* bias, float* out, uint8_t* argmax) {
  const ImageKernels& k = image_kernels();
  const Correlation p{g.C, g.H, g.W, g.O, g.KH, g.KW, g.PH, g.PW, g.OH, g.OW};
  const bool flat = flat_forward(k, p);
  const int64_t RS = row_length(k, p, flat);
  const int64_t out_plane = f.pool ? (g.OH / 2) * (g.OW / 2) : g.OH * g.OW;
  const int64_t out_size = g.O * out_plane;
  const float* packed = pack(k, p, w, false);
  // A batch of fewer than 8 images splits each image's output channels into runs of whole blocks
  // of CB across tasks (parts_per_image), so that batch 1 keeps every thread busy: each channel is
  // computed as it would be in one call, by whichever task.
  const int64_t blocks = (g.O + k.CB - 1) / k.CB, taps = g.KH * g.KW;
  const int64_t wanted = std::min(blocks, parts_per_image(g.N, g.O * g.OH * g.OW * g.C * taps));
  const int64_t run = (blocks + wanted - 1) / wanted * k.CB, runs = (g.O + run - 1) / run;
  parallel_for(g.N * runs, [&](int64_t task) {
    const int64_t n = task / runs, o0 = task % runs * run;
    Correlation q = p;
    q.O = std::min(run, g.O - o0);
    ConvFusion fq = f;
    if (f.bn_scale) {
      fq.bn_mean += o0;
      fq.bn_scale += o0;
      fq.bn_shift += o0;
    }
    k.forward(q, fq, flat, in + n * g.C * g.H * g.W, RS, packed + o0 * g.C * taps,
              bias ? bias + o0 : nullptr, out + n * out_size + o0 * out_plane,
              f.pool ? argmax + n * out_size + o0 * out_plane : nullptr);
  });
}

void conv2d_backward_direct(const Conv2dGeometry& g, ConvFusion f, const float* in, const float* w,
                            const float* out, const uint8_t* argmax, const float* grad, float* gin,
                            float* gw, float* gb) {
  if (f.bn_scale)
    throw std::logic_error("conv2d_backward_direct: a fused BatchNorm is inference only");
  const ImageKernels& k = image_kernels();
  const Correlation fwd{g.C, g.H, g.W, g.O, g.KH, g.KW, g.PH, g.PW, g.OH, g.OW};
  // The input gradient as a correlation of grad_output (O channels) giving C channels.
  const Correlation bwd{g.O, g.OH, g.OW, g.C, g.KH, g.KW, g.KH - 1 - g.PH, g.KW - 1 - g.PW,
                        g.H, g.W};
  const bool flat_wgrad = flat_weight_grad(k, fwd), flat_gin = flat_forward(k, bwd);
  const int64_t RS_fwd = row_length(k, fwd, flat_wgrad), RS_bwd = row_length(k, bwd, flat_gin);
  const int64_t GS = round_up(g.OW, k.VL), taps = g.KH * g.KW, wsize = g.O * g.C * taps;
  const int64_t part_size = wsize + g.O;
  const int64_t out_size = f.pool ? g.O * (g.OH / 2) * (g.OW / 2) : g.O * g.OH * g.OW;
  const bool want_params = gw || gb;
  // Flat weight gradients run on groups of images (weight_grad); otherwise one image per task.
  // The group size depends on the geometry only, so the sums do not depend on the thread count.
  const int64_t group = flat_wgrad ? std::clamp<int64_t>(2048 / (g.OH * RS_fwd), 1, 16) : 1;
  const int64_t groups = (g.N + group - 1) / group, plane_size = g.O * g.OH * g.OW;
  float* parts = want_params ? scratch(4, static_cast<size_t>(groups * part_size)) : nullptr;
  const float* packed = gin ? pack(k, bwd, w, true) : nullptr;
  // The gradients of the convolution's own outputs, when a fused ReLU [and pool] stands between
  // them and `grad`: per image, or for the whole batch when the weight gradient groups images.
  float* batch_gz =
      f.relu && group > 1 ? scratch(7, static_cast<size_t>(g.N * plane_size)) : nullptr;
  parallel_for(g.N, [&](int64_t n) {
    const float* gz = grad + n * out_size;
    if (f.relu) {  // the gradient of the convolution's own output, from the fused chain's
      float* buf =
          batch_gz ? batch_gz + n * plane_size : scratch(3, static_cast<size_t>(plane_size));
      k.output_grad(f, g.O, g.OH, g.OW, out + n * out_size,
                    f.pool ? argmax + n * out_size : nullptr, gz, buf);
      gz = buf;
    }
    if (want_params && group == 1)
      k.weight_grad(fwd, flat_wgrad, 1, in + n * g.C * g.H * g.W, 0, RS_fwd, gz, 0, GS,
                    parts + n * part_size);
    if (gin)
      k.forward(bwd, ConvFusion{}, flat_gin, gz, RS_bwd, packed, nullptr, gin + n * g.C * g.H * g.W,
                nullptr);
  });
  if (want_params && group > 1) {
    const float* gz = batch_gz ? batch_gz : grad;
    parallel_for(groups, [&](int64_t t) {
      const int64_t n0 = t * group, count = std::min(group, g.N - n0);
      k.weight_grad(fwd, true, count, in + n0 * g.C * g.H * g.W, g.C * g.H * g.W, RS_fwd,
                    gz + n0 * plane_size, plane_size, GS, parts + t * part_size);
    });
  }
  if (!want_params) return;
  // Parts (per image, or per group) added in order: the same sums at any thread count.
  if (gw) add_parts_in_order(gw, parts, groups, part_size, wsize);
  if (gb) add_parts_in_order(gb, parts + wsize, groups, part_size, g.O);
}

}  // namespace convlab::kernels
