// Polyphase decomposition. With stride S, output (oy, ox) reads input rows oy*SH - PH + ky: writing
// ky = a*SH + py splits the taps by phase py (the tap's row modulo the stride). Phase (py, px) of
// the padded input, image[i][j] = padded[i*SH + py][j*SW + px], meets the taps of that phase at
// stride 1: output (oy, ox) reads image[oy + a][ox + b]. Stacking the phases as channels gives a
// stride-1, unpadded convolution with C * phases channels and a kernel of ceil(KH/SH) x
// ceil(KW/SW), whose weights are the original taps of each phase and zeros where a phase has fewer
// taps. The direct kernels then run it, or, for a 5x5 kernel at stride 2 (a 3x3 stride-1 form of
// 4C channels), Winograd F(4x4, 3x3): 4 x 36 / 16 = 9 products per output and input channel
// instead of 25, 2.8 times fewer even though 11 of the form's 36 taps are zero. Phases with no taps
// (py >= KH: a 1x1 kernel at stride 2 reads one pixel in four) are left out, so a strided 1x1
// convolution is a subsampling and a 1x1.
//
// The weight gradient of the stride-1 form folds back tap for tap (the zero taps' gradients are
// dropped); its input gradient scatters back pixel for pixel, since every input pixel lies in
// exactly one phase. On the Winograd route no phase planes are made: its kernels read the layer's
// planes as phases and write the input gradient straight back (PhaseInput in
// conv2d_winograd3x3.h). Every sum is made in an order fixed by the geometry: same bits at any
// thread count.
#include "conv2d_polyphase.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "conv2d_direct.h"
#include "conv2d_winograd3x3.h"
#include "convlab/ops/parallel.h"
#include "convlab/tensor/aligned.h"

namespace convlab::kernels {

namespace {

struct Polyphase {
  Conv2dGeometry g1;  // the stride-1 convolution on the phase images
  int64_t PY, PX;     // phases with taps in each direction: min(stride, kernel)
  int64_t i0, j0;     // the phase images' first row and column (the cropped form's padding)
};

Polyphase polyphase(const Conv2dGeometry& g) {
  const int64_t PY = std::min(g.SH, g.KH), PX = std::min(g.SW, g.KW);
  const int64_t KH1 = (g.KH + g.SH - 1) / g.SH, KW1 = (g.KW + g.SW - 1) / g.SW;
  const Conv2dGeometry g1{
      g.N, PY * PX * g.C, g.OH + KH1 - 1, g.OW + KW1 - 1, g.O, KH1, KW1, 1, 1, 0, 0, g.OH, g.OW};
  return {g1, PY, PX, 0, 0};
}

// Buffers of the calling thread, grown to the largest size asked for.
float* buffer(int slot, int64_t n) {
  thread_local AlignedVector<float> buffers[4];
  auto& b = buffers[slot];
  if (b.size() < static_cast<size_t>(n)) b.resize(static_cast<size_t>(n));
  return b.data();
}

// The columns j of a phase row whose source column j*S + p - P lies in [0, W): [j0, j1).
struct Span {
  int64_t j0, j1;
};
Span inside(int64_t S, int64_t p, int64_t P, int64_t W, int64_t J) {
  const int64_t first = P - p > 0 ? (P - p + S - 1) / S : 0;  // smallest j with j*S + p >= P
  const int64_t last = (W - 1 + P - p) >= 0 ? (W - 1 + P - p) / S + 1 : 0;
  return {std::min(first, J), std::clamp<int64_t>(last, std::min(first, J), J)};
}

// The rows [first, end) of J phase rows that hold an input row in some phase p < phases (row j of
// phase p is input row j*S + p - P, of W).
Span inside_any(int64_t S, int64_t phases, int64_t P, int64_t W, int64_t J) {
  Span all{J, 0};
  for (int64_t p = 0; p < phases; ++p) {
    const Span s = inside(S, p, P, W, J);
    if (s.j0 < s.j1) all = {std::min(all.j0, s.j0), std::max(all.j1, s.j1)};
  }
  return all.j0 < all.j1 ? all : Span{0, 0};
}

// The stride-1 form cut to the phase rows and columns that hold input pixels, the rows and
// columns cut away (all padding, in every phase) given back as padding: a 5x5 layer at stride 2
// with padding 2 on 16 x 16 becomes a 3x3 layer with padding 1 on 8 x 8, not an unpadded one on
// 10 x 10, whose input gradient would cover 3 x 3 tiles of 4 x 4 an image instead of 2 x 2. The
// plain form where the cut one's padding would not be the same on both sides.
Polyphase cropped(const Conv2dGeometry& g) {
  const Polyphase p = polyphase(g);
  const Conv2dGeometry& g1 = p.g1;
  const Span rows = inside_any(g.SH, p.PY, g.PH, g.H, g1.H);
  const Span cols = inside_any(g.SW, p.PX, g.PW, g.W, g1.W);
  const Conv2dGeometry c{g.N, g1.C, rows.j1 - rows.j0, cols.j1 - cols.j0, g.O,  g1.KH, g1.KW,
                         1,   1,    rows.j0,           cols.j0,           g.OH, g.OW};
  const bool same = c.H + 2 * c.PH - c.KH + 1 == c.OH && c.W + 2 * c.PW - c.KW + 1 == c.OW;
  return same && c.H > 0 && c.W > 0 ? Polyphase{c, p.PY, p.PX, rows.j0, cols.j0} : p;
}

// The phase images of every image: channel (py * PX + px) * C + c.
void split(const Conv2dGeometry& g, const Polyphase& p, const float* in, float* phases) {
  const Conv2dGeometry& g1 = p.g1;
  parallel_for(g.N, [&](int64_t n) {
    for (int64_t py = 0; py < p.PY; ++py)
      for (int64_t px = 0; px < p.PX; ++px) {
        const Span cols = inside(g.SW, px + p.j0 * g.SW, g.PW, g.W, g1.W);
        for (int64_t c = 0; c < g.C; ++c) {
          const float* src = in + (n * g.C + c) * g.H * g.W;
          float* dst = phases + (n * g1.C + (py * p.PX + px) * g.C + c) * g1.H * g1.W;
          for (int64_t i = 0; i < g1.H; ++i) {
            float* row = dst + i * g1.W;
            const int64_t y = (i + p.i0) * g.SH + py - g.PH;
            if (y < 0 || y >= g.H) {
              std::fill(row, row + g1.W, 0.0f);
              continue;
            }
            const float* srow = src + y * g.W + p.j0 * g.SW + px - g.PW;
            std::fill(row, row + cols.j0, 0.0f);
            if (g.SW == 2)  // a constant stride, so that the gather vectorises
              for (int64_t j = cols.j0; j < cols.j1; ++j) row[j] = srow[2 * j];
            else
              for (int64_t j = cols.j0; j < cols.j1; ++j) row[j] = srow[j * g.SW];
            std::fill(row + cols.j1, row + g1.W, 0.0f);
          }
        }
      }
  });
}

// Where tap (ky, kx) of the kernel of channels (o, c) lies in the stride-1 form's weights, past
// w1's kernel of channels (o, c) itself: tap (ky / SH, kx / SW) of channel (py * PX + px) * C + c.
std::vector<int64_t> phase_taps(const Conv2dGeometry& g, const Polyphase& p) {
  const Conv2dGeometry& g1 = p.g1;
  std::vector<int64_t> at(static_cast<size_t>(g.KH * g.KW));
  for (int64_t ky = 0; ky < g.KH; ++ky)
    for (int64_t kx = 0; kx < g.KW; ++kx)
      at[static_cast<size_t>(ky * g.KW + kx)] =
          ((ky % g.SH) * p.PX + kx % g.SW) * g.C * g1.KH * g1.KW + (ky / g.SH) * g1.KW + kx / g.SW;
  return at;
}

// w1[o][(py, px, c)][a][b] = w[o][c][a*SH + py][b*SW + px], zero past the kernel.
void phase_weights(const Conv2dGeometry& g, const Polyphase& p, const float* w, float* w1) {
  const Conv2dGeometry& g1 = p.g1;
  const int64_t taps = g.KH * g.KW, taps1 = g1.KH * g1.KW;
  std::fill(w1, w1 + g.O * g1.C * taps1, 0.0f);
  const std::vector<int64_t> at = phase_taps(g, p);
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = w + (o * g.C + c) * taps;
      float* dst = w1 + (o * g1.C + c) * taps1;
      for (int64_t k = 0; k < taps; ++k) dst[at[static_cast<size_t>(k)]] = src[k];
    }
}

// gw += the stride-1 form's gradient gw1 at the real taps (the zero taps' gradients are dropped).
void fold_weight_gradient(const Conv2dGeometry& g, const Polyphase& p, const float* gw1,
                          float* gw) {
  const Conv2dGeometry& g1 = p.g1;
  const int64_t taps = g.KH * g.KW, taps1 = g1.KH * g1.KW;
  const std::vector<int64_t> at = phase_taps(g, p);
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = gw1 + (o * g1.C + c) * taps1;
      float* dst = gw + (o * g.C + c) * taps;
      for (int64_t k = 0; k < taps; ++k) dst[k] += src[at[static_cast<size_t>(k)]];
    }
}

// The layer's planes as the Winograd kernels read its phases.
PhaseInput phase_input(const Conv2dGeometry& g, const Polyphase& p) {
  return {g.C, g.H, g.W, g.PH, g.PW, p.i0, p.j0};
}

}  // namespace

bool polyphase_winograd_applies(const Conv2dGeometry& g) {
  return g.SH == 2 && g.SW == 2 && g.KH == 5 && g.KW == 5 && g.PH <= 4 && g.PW <= 4 && g.OH >= 8 &&
         g.OW >= 8 && winograd3x3_conv_applies(cropped(g).g1);
}

// The form a layer runs in: cut to its input pixels for Winograd, whole for the direct kernels.
Polyphase form(const Conv2dGeometry& g) {
  return polyphase_winograd_applies(g) ? cropped(g) : polyphase(g);
}

bool polyphase_conv_applies(const Conv2dGeometry& g) {
  if (g.SH == 1 && g.SW == 1) return false;
  if (polyphase_winograd_applies(g)) return true;
  const Polyphase p = polyphase(g);
  // Taps of the stride-1 form against the real ones: 16/9 for 3x3 at stride 2, 64/49 for 7x7.
  const int64_t taps1 = p.PY * p.PX * p.g1.KH * p.g1.KW, taps = g.KH * g.KW;
  return direct_conv_applies(p.g1) && taps1 <= 2 * taps;
}

void conv2d_forward_polyphase(const Conv2dGeometry& g, ConvFusion f, const float* in,
                              const float* w, const float* bias, float* out) {
  const Polyphase p = form(g);
  const Conv2dGeometry& g1 = p.g1;
  float* w1 = buffer(1, g1.O * g1.C * g1.KH * g1.KW);
  phase_weights(g, p, w, w1);
  if (polyphase_winograd_applies(g)) {
    const PhaseInput phases = phase_input(g, p);
    return conv2d_forward_winograd3x3(g1, f, in, w1, bias, out, &phases);
  }
  if (f.relu || f.pool || f.bn_scale)
    throw std::logic_error("conv2d_forward_polyphase: the direct route fuses nothing");
  float* phases = buffer(0, g1.N * g1.C * g1.H * g1.W);
  split(g, p, in, phases);
  conv2d_forward_direct(g1, {}, phases, w1, bias, out, nullptr);
}

void conv2d_backward_polyphase(const Conv2dGeometry& g, const float* in, const float* w,
                               const float* gout, float* gin, float* gw, float* gb) {
  const Polyphase p = form(g);
  const Conv2dGeometry& g1 = p.g1;
  const int64_t plane1 = g1.H * g1.W, wsize1 = g1.O * g1.C * g1.KH * g1.KW;
  float* w1 = buffer(1, wsize1);
  float* gw1 = gw ? buffer(3, wsize1) : nullptr;
  phase_weights(g, p, w, w1);
  if (gw1) std::fill(gw1, gw1 + wsize1, 0.0f);
  if (polyphase_winograd_applies(g)) {
    const PhaseInput phases = phase_input(g, p);
    conv2d_backward_winograd3x3(g1, in, w1, gout, gin, gw1, gb, &phases);
    if (gw) fold_weight_gradient(g, p, gw1, gw);
    return;
  }
  float* phases = buffer(0, g1.N * g1.C * plane1);
  float* gphases = gin ? buffer(2, g1.N * g1.C * plane1) : nullptr;
  split(g, p, in, phases);
  conv2d_backward_direct(g1, {}, phases, w1, nullptr, nullptr, gout, gphases, gw1, gb);
  if (gw) fold_weight_gradient(g, p, gw1, gw);
  if (!gin) return;
  // Each input pixel from its one phase pixel; pixels no tap reads get zero.
  const bool covered = p.PY == g.SH && p.PX == g.SW;
  parallel_for(g.N, [&](int64_t n) {
    for (int64_t c = 0; c < g.C; ++c) {
      float* dst = gin + (n * g.C + c) * g.H * g.W;
      if (!covered) std::fill(dst, dst + g.H * g.W, 0.0f);
      for (int64_t py = 0; py < p.PY; ++py)
        for (int64_t px = 0; px < p.PX; ++px) {
          const Span cols = inside(g.SW, px + p.j0 * g.SW, g.PW, g.W, g1.W);
          const float* src = gphases + (n * g1.C + (py * p.PX + px) * g.C + c) * plane1;
          for (int64_t i = 0; i < g1.H; ++i) {
            const int64_t y = (i + p.i0) * g.SH + py - g.PH;
            if (y < 0 || y >= g.H) continue;
            float* drow = dst + y * g.W + p.j0 * g.SW + px - g.PW;
            const float* srow = src + i * g1.W;
            for (int64_t j = cols.j0; j < cols.j1; ++j) drow[j * g.SW] = srow[j];
          }
        }
      // Rows and columns past the phase images' reach (stride-1 form cut at the output's edge).
      if (covered) {
        for (int64_t y = (p.i0 + g1.H) * g.SH - g.PH; y < g.H; ++y)
          if (y >= 0) std::fill(dst + y * g.W, dst + (y + 1) * g.W, 0.0f);
        for (int64_t x = std::max<int64_t>((p.j0 + g1.W) * g.SW - g.PW, 0); x < g.W; ++x)
          for (int64_t y = 0; y < g.H; ++y) dst[y * g.W + x] = 0.0f;
      }
    }
  });
}

}  // namespace convlab::kernels
