// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions, channels in the vector lanes.
//
// A tile is 4x4 (36 products per tile and channel pair instead of 144: 4x fewer; on 7 x 7, 3x
// after the tiles' overhang) and the transforms take 16 channels of one tile per vector, from
// channels-last copies of the planes. (F(2x2, 3x3) with 16 tiles of a row per vector, as
// conv2d_winograd_f2x2.cpp does for 5x5 and 7x7, saves 2.25x, and on 7 x 7 or 8 x 8 planes, 4 tiles
// a row, leaves three quarters of its lanes idle.)
//
//   forward       P (pixels x C, zero-bordered) -> V_xi (tiles x C) = (B^T d B)[xi] per tile
//                 M_xi (tiles x O) = V_xi U_xi, U_xi (C x O) = (G g G^T)[xi]
//                 out (pixels x O) = A^T M A + bias per tile, then turned to O x pixels
//   input grad    the forward on the output gradient with the kernel turned by 180 degrees and
//                 its channel axes swapped, padded by 2 - P
//   weight grad   dM_xi (tiles x O) = (A dY A^T)[xi]; dL/dU_xi (C x O) = V_xi^T dM_xi summed over
//                 fixed groups of images in order, then dL/dg = G^T dL/dU G
//
// The points are 0, 1, -1, 2, -1/2 (tools/winograd_points.py: the largest error of an output up to
// 3.9 is 9.4e-6 in float, against 2.2e-5 at 0, +-1, +-2). The results are fixed by the geometry:
// the same at any thread count.
#include "conv2d_winograd3x3.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_bias_grad.h"
#include "conv_epilogue.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "derived_weights.h"
#include "gemm.h"
#include "scratch.h"
#include "winograd_transform.h"

// GCC bug 105593, as in conv2d_winograd_f2x2.cpp.
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

namespace {

using T = Transform<4, 3>;
constexpr int kA = T::a;             // 6: a transformed tile is 6 x 6
constexpr int kXi = kA * kA;         // its positions
constexpr int64_t kLanes = 16;       // channels per vector
constexpr int64_t kSkew = 16;        // floats between the positions' matrices (cache sets)
constexpr int64_t kBlockTiles = 64;  // tiles per matrix product, whole images

// The 4x4 tiles of an OH x OW output and the padded plane they read: tile (ty, tx) covers output
// rows 4ty .. 4ty + 3 (those inside), columns 4tx .. 4tx + 3, and reads padded rows 4ty .. 4ty + 5,
// columns 4tx .. 4tx + 5 (padded (r, q) is input (r - PH, q - PW)).
struct Tiles {
  int64_t TH, TW, T, Hp, Wp;
  Tiles(int64_t OH, int64_t OW)
      : TH((OH + 3) / 4), TW((OW + 3) / 4), T(TH * TW), Hp(4 * TH + 2), Wp(4 * TW + 2) {}
  // Tile t's first output row and column, and how many of its rows and columns are inside.
  struct OutputTile {
    int64_t y0, x0;
    int rows, cols;
  };
  OutputTile output_tile(int64_t t, int64_t OH, int64_t OW) const {
    const int64_t y0 = 4 * (t / TW), x0 = 4 * (t % TW);
    return {y0, x0, static_cast<int>(std::min<int64_t>(4, OH - y0)),
            static_cast<int>(std::min<int64_t>(4, OW - x0))};
  }
};

// P[(r * Wp + q) * C + c] = the image's channel c at padded (r, q), zero outside; `work` holds
// the C x H x W image turned channels-last on the way.
void pad_channels_last(const Conv2dGeometry& g, const Tiles& tl, const float* src, float* work,
                       float* P) {
  const int64_t row = tl.Wp * g.C;  // floats per padded row
  if (g.W % 16 == 0 && g.C % 16 == 0) {
    // Rows of whole 16 x 16 tiles: each image row turned straight into its padded row, and only
    // the border zeroed (a fill of the plane, the turn and a copy took about a tenth of ResNet-20's
    // inference).
    zero_border(g.H, g.W, g.C, P, tl.Hp, tl.Wp, g.PH, g.PW);
    for (int64_t y = 0; y < g.H; ++y)
      transpose(g.C, g.W, src + y * g.W, g.H * g.W, P + (y + g.PH) * row + g.PW * g.C, g.C);
    return;
  }
  std::fill(P, P + tl.Hp * tl.Wp * g.C, 0.0f);
  transpose(g.C, g.H * g.W, src, g.H * g.W, work);  // (H * W) x C
  for (int64_t y = 0; y < g.H; ++y)
    std::memcpy(P + ((y + g.PH) * tl.Wp + g.PW) * g.C, work + y * g.W * g.C,
                static_cast<size_t>(g.W * g.C) * sizeof(float));
}

// n floats from src, or zeros (src null).
CONVLAB_WINO void copy_or_zero(const float* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; i += kLanes) {
    const __mmask16 m = lanes_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, m,
                          src ? _mm512_maskz_loadu_ps(m, src + i) : _mm512_setzero_ps());
  }
}

// pad_channels_last for the stride-1 form g of a stride-2 layer (s): the layer's image turned
// channels-last into work, then each padded pixel's four phases copied from it, a phase row's two
// columns (px = 0, 1: neighbouring pixels, 2C floats) at once where both are inside.
CONVLAB_WINO void pad_phases_channels_last(const Conv2dGeometry& g, const Tiles& tl,
                                           const PhaseInput& s, const float* src, float* work,
                                           float* P) {
  const int64_t C = s.C;
  transpose(C, s.H * s.W, src, s.H * s.W, work);  // (H * W) x C
  for (int64_t r = 0; r < tl.Hp; ++r)
    for (int64_t py = 0; py < 2; ++py) {
      // Padded row r is phase row r - g.PH + i0: input row y, if the form has that row.
      const int64_t y = 2 * (r - g.PH + s.i0) + py - s.PH;
      const bool row = r >= g.PH && r < g.PH + g.H && y >= 0 && y < s.H;
      for (int64_t q = 0; q < tl.Wp; ++q) {
        float* dst = P + (r * tl.Wp + q) * g.C + py * 2 * C;
        const int64_t x = 2 * (q - g.PW + s.j0) - s.PW;
        const bool col = row && q >= g.PW && q < g.PW + g.W;
        if (col && x >= 0 && x + 1 < s.W) {
          copy_or_zero(work + (y * s.W + x) * C, 2 * C, dst);
          continue;
        }
        for (int64_t px = 0; px < 2; ++px) {
          const bool inside = col && x + px >= 0 && x + px < s.W;
          copy_or_zero(inside ? work + (y * s.W + x + px) * C : nullptr, C, dst + px * C);
        }
      }
    }
}

// The layer's input gradient (s) from its form's (G: the form's H1 x W1 pixels x 4C channels,
// channels-last): each layer pixel from its one phase pixel, zero where the form has none, into
// work (pixels x C), then turned to planes in out. Pixels x and x + 1 of a row whose x + PW is even
// are phases px = 0 and 1 of one phase pixel, 2C floats in a row of G: copied at once.
CONVLAB_WINO void unphase_planes(int64_t H1, int64_t W1, const PhaseInput& s, const float* G,
                                 float* work, float* out) {
  const int64_t C = s.C;
  // The phase column of layer column x is (x + PW) / 2 - j0.
  const auto from = [&](int64_t i, int64_t py, int64_t x) -> const float* {
    const int64_t j = (x + s.PW) / 2 - s.j0, px = (x + s.PW) % 2;
    return j >= 0 && j < W1 ? G + ((i * W1 + j) * 4 + py * 2 + px) * C : nullptr;
  };
  for (int64_t y = 0; y < s.H; ++y) {
    const int64_t py = (y + s.PH) % 2, i = (y + s.PH) / 2 - s.i0;
    float* dst = work + y * s.W * C;
    if (i < 0 || i >= H1) {
      copy_or_zero(nullptr, s.W * C, dst);
      continue;
    }
    int64_t x = 0;
    if (s.PW % 2) copy_or_zero(from(i, py, 0), C, dst), x = 1;  // a lone px = 1 first
    for (; x + 1 < s.W; x += 2) {
      const float* src = from(i, py, x);
      copy_or_zero(src, 2 * C, dst + x * C);
    }
    if (x < s.W) copy_or_zero(from(i, py, x), C, dst + x * C);
  }
  transpose(s.H * s.W, C, work, C, out);
}

// Image n's zero-bordered channels-last copy P: of g's planes, or (phases) of the layer's.
void load_padded(const Conv2dGeometry& g, const Tiles& tl, const PhaseInput* phases,
                 const float* in, int64_t n, float* work, float* P) {
  if (!phases) return pad_channels_last(g, tl, in + n * g.C * g.H * g.W, work, P);
  pad_phases_channels_last(g, tl, *phases, in + n * phases->C * phases->H * phases->W, work, P);
}

// Floats of work and P that a layer read as phases needs beyond g's own: its channels-last image.
int64_t phase_floats(const PhaseInput* phases) {
  return phases ? phases->C * phases->H * phases->W : 0;
}

// V[xi * vx + t * C + c] = (B^T d B)[xi] for the tiles t of one image (P channels-last, padded),
// 16 channels at a time.
CONVLAB_WINO void input_transform(int64_t C, const Tiles& tl, const float* P, float* V,
                                  int64_t vx) {
  for (int64_t t = 0; t < tl.T; ++t) {
    const float* corner = P + (4 * (t / tl.TW) * tl.Wp + 4 * (t % tl.TW)) * C;
    for (int64_t c = 0; c < C; c += kLanes) {
      const __mmask16 m = lanes_mask(C - c);
      __m512 x[kA][kA], e[kA][kA];  // x[column][row], then B^T d
      for (int i = 0; i < kA; ++i)
        for (int j = 0; j < kA; ++j)
          x[j][i] = _mm512_maskz_loadu_ps(m, corner + (i * tl.Wp + j) * C + c);
      for (int j = 0; j < kA; ++j) apply<kA, kA>(T::BT, x[j], e[j]);
      float* dst = V + t * C + c;
      for (int i = 0; i < kA; ++i) {  // (B^T d) B, row by row
        __m512 row[kA], v[kA];
        for (int j = 0; j < kA; ++j) row[j] = e[j][i];
        apply<kA, kA>(T::BT, row, v);
        for (int j = 0; j < kA; ++j) _mm512_mask_storeu_ps(dst + (kA * i + j) * vx, m, v[j]);
      }
    }
  }
}

// Y[(y * OW + x) * O + o] = (A^T M A + bias)[o] at the pixels of one image's tiles inside the
// plane, M[xi * mx + t * O + o].
CONVLAB_WINO void output_transform(int64_t O, int64_t OH, int64_t OW, const Tiles& tl,
                                   const float* M, int64_t mx, const float* bias, float* Y) {
  for (int64_t t = 0; t < tl.T; ++t) {
    const auto [y0, x0, rows, cols] = tl.output_tile(t, OH, OW);
    for (int64_t o = 0; o < O; o += kLanes) {
      const __mmask16 m = lanes_mask(O - o);
      const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + o) : _mm512_setzero_ps();
      __m512 s[kA][4];  // A^T M, column by column
      for (int j = 0; j < kA; ++j) {
        __m512 col[kA];
        for (int i = 0; i < kA; ++i)
          col[i] = _mm512_maskz_loadu_ps(m, M + (kA * i + j) * mx + t * O + o);
        apply<4, kA>(T::AT, col, s[j]);
      }
      for (int i = 0; i < rows; ++i) {  // (A^T M) A
        __m512 row[kA], y[4];
        for (int j = 0; j < kA; ++j) row[j] = s[j][i];
        apply<4, kA>(T::AT, row, y);
        float* dst = Y + ((y0 + i) * OW + x0) * O + o;
        for (int j = 0; j < cols; ++j)
          _mm512_mask_storeu_ps(dst + j * O, m, _mm512_add_ps(y[j], b));
      }
    }
  }
}

// dM[xi * mx + t * O + o] = (A dY A^T)[xi] for the tiles of one image's output gradient, given
// channels-last with rows ldg pixels apart (G[(y * ldg + x) * O + o]; dY zero past the plane).
CONVLAB_WINO void gradient_transform(int64_t O, int64_t OH, int64_t OW, const Tiles& tl,
                                     const float* G, int64_t ldg, float* dM, int64_t mx) {
  for (int64_t t = 0; t < tl.T; ++t) {
    const auto [y0, x0, rows, cols] = tl.output_tile(t, OH, OW);
    for (int64_t o = 0; o < O; o += kLanes) {
      const __mmask16 m = lanes_mask(O - o);
      __m512 d[4][4];  // d[column][row]
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i)
          d[j][i] = i < rows && j < cols
                        ? _mm512_maskz_loadu_ps(m, G + ((y0 + i) * ldg + x0 + j) * O + o)
                        : _mm512_setzero_ps();
      __m512 e[4][kA];  // A dY, column by column
      for (int j = 0; j < 4; ++j) apply<kA, 4, true>(T::AT, d[j], e[j]);
      float* dst = dM + t * O + o;
      for (int i = 0; i < kA; ++i) {  // (A dY) A^T, row by row
        __m512 row[4], v[kA];
        for (int j = 0; j < 4; ++j) row[j] = e[j][i];
        apply<kA, 4, true>(T::AT, row, v);
        for (int j = 0; j < kA; ++j) _mm512_mask_storeu_ps(dst + (kA * i + j) * mx, m, v[j]);
      }
    }
  }
}

// U[(xi * C + c) * O + o] = (G g G^T)[xi] for the 3x3 kernels g of input channels [c0, c1),
// 16 output channels per vector; gather(c, t) writes t[(3 i + j) * O + o] = g[o][c][i][j] (a scalar
// gather of them had taken a fifth of the transform).
template <typename Taps>
CONVLAB_WINO void transform_kernels(int64_t O, int64_t C, int64_t c0, int64_t c1, Taps gather,
                                    float* U) {
  float* taps = scratch(0, static_cast<size_t>(18 * O));  // 9 x O, and 9 x O for the gather's use
  for (int64_t c = c0; c < c1; ++c) {
    gather(c, taps);
    for (int64_t o = 0; o < O; o += kLanes) {
      const __mmask16 m = lanes_mask(O - o);
      __m512 gg[3][kA];  // G g, column by column
      for (int j = 0; j < 3; ++j) {
        __m512 col[3];
        for (int k = 0; k < 3; ++k) col[k] = _mm512_maskz_loadu_ps(m, taps + (3 * k + j) * O + o);
        apply<kA, 3>(T::G, col, gg[j]);
      }
      for (int i = 0; i < kA; ++i) {  // (G g) G^T
        __m512 row[3], u[kA];
        for (int j = 0; j < 3; ++j) row[j] = gg[j][i];
        apply<kA, 3>(T::G, row, u);
        for (int j = 0; j < kA; ++j)
          _mm512_mask_storeu_ps(U + ((kA * i + j) * C + c) * O + o, m, u[j]);
      }
    }
  }
}

// All C x O kernels transformed, 8 input channels per task: a transform per call, not per image,
// yet at 2 threads run serially it held back a 64 -> 128 layer's forward pass by a tenth. Tasks
// use their scratch slot 0, free between the kernels' uses.
template <typename Taps>
void weight_transform(int64_t O, int64_t C, Taps gather, float* U) {
  constexpr int64_t kPerTask = 8;
  parallel_for((C + kPerTask - 1) / kPerTask, [&](int64_t task) {
    transform_kernels(O, C, task * kPerTask, std::min(C, (task + 1) * kPerTask), gather, U);
  });
}

// Images per matrix product: about 64 tiles, whole images.
int64_t block_images(const Tiles& tl) {
  return std::max<int64_t>(1, kBlockTiles / tl.T);
}

// With fewer blocks of images (or groups) than this, the blocks run one after another on the
// calling thread and each block's kXi matrix products are spread over the pool instead: 4 x 4
// planes are one tile an image, so a batch of 64 was one block and ran on one thread (a 256 ->
// 256 layer's forward pass took 2.85 ms on 1 thread and 2.51 on 2). The products are the same
// whichever thread makes them, so the bits do not change. The product tasks use no scratch: the
// calling thread's slots stay its own.
constexpr int64_t kSpreadBelow = 4;

// f(xi) for every position: on this thread, or (spread) as tasks of the pool.
template <typename F>
void for_positions(bool spread, F f) {
  if (spread) return parallel_for(kXi, [&](int64_t xi) { f(static_cast<int>(xi)); });
  for (int xi = 0; xi < kXi; ++xi) f(xi);
}

// f(block) for blocks [0, n): as tasks of the pool, or (spread: their products are the tasks)
// one after another on this thread.
template <typename F>
void for_blocks(bool spread, int64_t n, F f) {
  if (!spread) return parallel_for(n, f);
  for (int64_t b = 0; b < n; ++b) f(b);
}

// Buffers for one block of images: a channels-last image (work), its zero-bordered copy (P), the
// tiles' transforms (V) and the products (M); work and P are scratch slots 0 and 1 of the thread
// that made them, of the sizes given.
struct BlockBuffers {
  float *work, *P, *V, *M;
  size_t work_size, P_size;
};

// f(k, work, P) for the images k < count of a block, each with buffers for one image: on this
// thread with the block's, or (spread) as tasks of the pool, each with its thread's slots 0 and 1
// (on this thread the block's own). The caller's V and M (slots 2 and up) stay its own: the tasks
// take no other slot. The per-image transforms had run on one thread while the products were
// spread: the 256 -> 256 layer on 4 x 4 ran its forward pass 1.4 times faster on 2 threads.
template <typename F>
void for_images(bool spread, int64_t count, const BlockBuffers& b, F f) {
  if (!spread) {
    for (int64_t k = 0; k < count; ++k) f(k, b.work, b.P);
    return;
  }
  parallel_for(count, [&](int64_t k) { f(k, scratch(0, b.work_size), scratch(1, b.P_size)); });
}

// The forward algorithm with the kernel transformed (U) on images n0 .. n0 + count - 1. A fused
// BatchNorm (bn: mean, scale and shift, O doubles apart, or null) and ReLU apply to each image's
// output while it is pixel-major, in cache. `also(k, P)` sees each image's zero-bordered
// channels-last copy after its transform (the backward pass's weight gradient reads the output
// gradient there).
// With in_phases, `in` is a stride-2 layer's input read as phases; with out_phases, `out` is one's
// input gradient and g's output its form's (PhaseInput).
template <typename Also>
void forward_block(const Conv2dGeometry& g, const Tiles& tl, const float* U, const float* bias,
                   const double* bn, bool relu, const float* in, const PhaseInput* in_phases,
                   int64_t n0, int64_t count, const BlockBuffers& b, float* out,
                   const PhaseInput* out_phases, Also also, bool spread = false) {
  const int64_t vx = count * tl.T * g.C + kSkew, mx = count * tl.T * g.O + kSkew;
  for_images(spread, count, b, [&](int64_t k, float* work, float* P) {
    load_padded(g, tl, in_phases, in, n0 + k, work, P);
    input_transform(g.C, tl, P, b.V + k * tl.T * g.C, vx);
    also(k, P);
  });
  for_positions(spread, [&](int xi) {
    gemm_nn(count * tl.T, g.O, g.C, b.V + xi * vx, g.C, U + xi * g.C * g.O, g.O, b.M + xi * mx, g.O,
            /*accumulate=*/false);
  });
  for_images(spread, count, b, [&](int64_t k, float* work, float* P) {
    output_transform(g.O, g.OH, g.OW, tl, b.M + k * tl.T * g.O, mx, bias, work);
    if (bn || relu) conv_epilogue(g.OH * g.OW, g.O, bn, g.O, relu, work, g.O);
    if (out_phases)
      unphase_planes(g.OH, g.OW, *out_phases, work, P, out + (n0 + k) * phase_floats(out_phases));
    else
      transpose(g.OH * g.OW, g.O, work, g.O, out + (n0 + k) * g.O * g.OH * g.OW);
  });
}

// forward_block on every block of images, one block per task (or, below kSpreadBelow blocks, one
// block after another with its products spread).
void forward_transformed(const Conv2dGeometry& g, const float* U, const float* bias,
                         const double* bn, bool relu, const float* in, const PhaseInput* in_phases,
                         float* out, const PhaseInput* out_phases) {
  const Tiles tl(g.OH, g.OW);
  const int64_t images = block_images(tl), most = images * tl.T;
  const int64_t tasks = (g.N + images - 1) / images;
  const bool spread = tasks < kSpreadBelow;
  const auto task_body = [&](int64_t task) {
    const int64_t n0 = task * images, count = std::min(images, g.N - n0);
    const auto work_size = static_cast<size_t>(
        std::max(std::max(g.H * g.W, g.OH * g.OW) * std::max(g.C, g.O), phase_floats(in_phases)));
    const auto P_size =
        static_cast<size_t>(std::max(tl.Hp * tl.Wp * g.C, phase_floats(out_phases)));
    const BlockBuffers b{scratch(0, work_size),
                         scratch(1, P_size),
                         scratch(2, static_cast<size_t>(kXi * (most * g.C + kSkew))),
                         scratch(3, static_cast<size_t>(kXi * (most * g.O + kSkew))),
                         work_size,
                         P_size};
    forward_block(
        g, tl, U, bias, bn, relu, in, in_phases, n0, count, b, out, out_phases,
        [](int64_t, const float*) {}, spread);
  };
  for_blocks(spread, tasks, task_body);
}

// A fused BatchNorm's mean, scale and shift, O doubles each (empty without one).
std::vector<double> fused_batch_norm(const Conv2dGeometry& g, ConvFusion f) {
  std::vector<double> bn(f.bn_scale ? static_cast<size_t>(3 * g.O) : 0);
  if (f.bn_scale) {
    std::copy(f.bn_mean, f.bn_mean + g.O, bn.begin());
    std::copy(f.bn_scale, f.bn_scale + g.O, bn.begin() + g.O);
    std::copy(f.bn_shift, f.bn_shift + g.O, bn.begin() + 2 * g.O);
  }
  return bn;
}

template <typename Taps>
float* transformed_kernels(const Conv2dGeometry& g, int slot, Taps gather) {
  float* U = scratch(slot, static_cast<size_t>(kXi * g.C * g.O));
  weight_transform(g.O, g.C, gather, U);
  return U;
}

// Kept between calls while w is unchanged (derived_weights.h): inference transforms once.
const float* forward_kernels(const Conv2dGeometry& g, const float* w) {
  return derived_weights(
      DerivedKind::winograd3x3, g, w, g.O * g.C * 9, kXi * g.C * g.O, [&](float* U) {
        // Input channel c's taps, w[o][c][0..8] for every o (9 floats, C x 9 apart), turned.
        weight_transform(
            g.O, g.C,
            [&](int64_t c, float* taps) { transpose(g.O, 9, w + c * 9, g.C * 9, taps, g.O); }, U);
      });
}

}  // namespace

bool winograd3x3_conv_applies(const Conv2dGeometry& g) {
  // The kernels' transform (36 x C x O floats written per call, 4 times the weights) pays from 16
  // tiles in the batch: at batch 1, small7's 64 -> 128 layer on 7 x 7 (4 tiles) spent 55 % of the
  // network's inference there, and ResNet-20's 8 x 8 stage gained on the channel-lane kernel.
  constexpr int64_t kMinTiles = 16;
  return active_isa() == Isa::avx512 && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 &&
         g.PH <= 2 && g.PW <= 2 && g.C >= 16 && g.O >= 16 && g.OH >= 4 && g.OW >= 4 &&
         g.N * ((g.OH + 3) / 4) * ((g.OW + 3) / 4) >= kMinTiles;
}

void conv2d_forward_winograd3x3(const Conv2dGeometry& g, ConvFusion f, const float* in,
                                const float* w, const float* bias, float* out,
                                const PhaseInput* phases) {
  const float* U = forward_kernels(g, w);
  const std::vector<double> bn = fused_batch_norm(g, f);
  forward_transformed(g, U, bias, f.bn_scale ? bn.data() : nullptr, f.relu, in, phases, out,
                      nullptr);
}

bool winograd3x3_chain_applies(const Conv2dGeometry& a, ConvFusion fa, const Conv2dGeometry& b,
                               ConvFusion fb) {
  return winograd3x3_conv_applies(a) && winograd3x3_conv_applies(b) && !fa.pool && !fb.pool &&
         b.N == a.N && b.C == a.O && b.H == a.OH && b.W == a.OW;
}

void conv2d_forward_chain_winograd3x3(const Conv2dGeometry& a, ConvFusion fa, const float* in,
                                      const float* wa, const float* ba, const Conv2dGeometry& b,
                                      ConvFusion fb, const float* wb, const float* bb, float* out) {
  const float* Ua = forward_kernels(a, wa);
  const float* Ub = forward_kernels(b, wb);
  const std::vector<double> bna = fused_batch_norm(a, fa), bnb = fused_batch_norm(b, fb);
  const Tiles ta(a.OH, a.OW), tb(b.OH, b.OW);
  // Blocks of images as the first layer's forward makes them; the second layer's tiles of those
  // images in one product each (a tile's sums do not depend on the others in its product).
  const int64_t images = block_images(ta);
  const int64_t most = images * std::max(ta.T, tb.T), CO = std::max({a.C, a.O, b.O});
  parallel_for((a.N + images - 1) / images, [&](int64_t task) {
    const int64_t n0 = task * images, count = std::min(images, a.N - n0);
    const int64_t pixels = std::max({a.H * a.W, a.OH * a.OW, b.OH * b.OW});
    // The first layer's buffers serve the second in turn: its padded input and transforms are
    // done with once its products are made, and its products once turned back to pixels.
    float* work = scratch(0, static_cast<size_t>(pixels * CO));
    float* P = scratch(1, static_cast<size_t>(std::max(ta.Hp * ta.Wp, tb.Hp * tb.Wp) * CO));
    float* V = scratch(2, static_cast<size_t>(kXi * (most * CO + kSkew)));
    float* M = scratch(3, static_cast<size_t>(kXi * (most * CO + kSkew)));
    const auto block = [&](const Conv2dGeometry& g, const Tiles& tl, const float* U) {
      const int64_t vx = count * tl.T * g.C + kSkew, mx = count * tl.T * g.O + kSkew;
      for (int xi = 0; xi < kXi; ++xi)
        gemm_nn(count * tl.T, g.O, g.C, V + xi * vx, g.C, U + xi * g.C * g.O, g.O, M + xi * mx, g.O,
                /*accumulate=*/false);
      return mx;
    };
    const int64_t va = count * ta.T * a.C + kSkew;
    for (int64_t k = 0; k < count; ++k) {
      pad_channels_last(a, ta, in + (n0 + k) * a.C * a.H * a.W, work, P);
      input_transform(a.C, ta, P, V + k * ta.T * a.C, va);
    }
    const int64_t ma = block(a, ta, Ua);
    // The first layer's output, pixel-major, goes straight into the second's zero-bordered
    // channels-last plane: no turn to planes and back, nothing written out.
    const int64_t vb = count * tb.T * b.C + kSkew;
    for (int64_t k = 0; k < count; ++k) {
      output_transform(a.O, a.OH, a.OW, ta, M + k * ta.T * a.O, ma, ba, work);
      if (fa.bn_scale || fa.relu)
        conv_epilogue(a.OH * a.OW, a.O, fa.bn_scale ? bna.data() : nullptr, a.O, fa.relu, work,
                      a.O);
      zero_border(b.H, b.W, b.C, P, tb.Hp, tb.Wp, b.PH, b.PW);
      for (int64_t y = 0; y < b.H; ++y)
        std::memcpy(P + ((y + b.PH) * tb.Wp + b.PW) * b.C, work + y * b.W * b.C,
                    static_cast<size_t>(b.W * b.C) * sizeof(float));
      input_transform(b.C, tb, P, V + k * tb.T * b.C, vb);
    }
    const int64_t mb = block(b, tb, Ub);
    for (int64_t k = 0; k < count; ++k) {
      output_transform(b.O, b.OH, b.OW, tb, M + k * tb.T * b.O, mb, bb, work);
      if (fb.bn_scale || fb.relu)
        conv_epilogue(b.OH * b.OW, b.O, fb.bn_scale ? bnb.data() : nullptr, b.O, fb.relu, work,
                      b.O);
      transpose(b.OH * b.OW, b.O, work, b.O, out + (n0 + k) * b.O * b.OH * b.OW);
    }
  });
}

void conv2d_backward_winograd3x3(const Conv2dGeometry& g, const float* in, const float* w,
                                 const float* gout, float* gin, float* gw, float* gb,
                                 const PhaseInput* phases) {
  if (gb) conv2d_bias_grad(g, gout, gb);
  // gin = gout correlated with the kernel turned by 180 degrees, channels swapped, padded by
  // 2 - P: a forward convolution from O channels of OH x OW to C channels of H x W.
  const Conv2dGeometry t{g.N, g.O, g.OH, g.OW, g.C, 3, 3, 1, 1, 2 - g.PH, 2 - g.PW, g.H, g.W};
  // t's kernel (c, o) is the layer's (o, c) turned by 180 degrees.
  // t's input channel o: the layer's w[o][c][8 - k] for every c (9 floats, 9 apart), turned into
  // rows k' = 8 - k, then rows in reverse order.
  const float* U =
      gin ? transformed_kernels(t, 5,
                                [&](int64_t o, float* taps) {
                                  float* turned = taps + 9 * g.C;
                                  transpose(g.C, 9, w + o * g.C * 9, 9, turned, g.C);
                                  for (int k = 0; k < 9; ++k)
                                    std::memcpy(taps + k * g.C, turned + (8 - k) * g.C,
                                                static_cast<size_t>(g.C) * sizeof(float));
                                })
          : nullptr;
  if (!gw) {
    if (gin) forward_transformed(t, U, nullptr, nullptr, false, gout, nullptr, gin, phases);
    return;
  }
  // Both gradients from one pass over the output gradient where the planes keep their size
  // (padding 1, the usual case): the input gradient's zero-bordered channels-last copy of each
  // image's output gradient also feeds the weight gradient's transform, so the gradient is read
  // and turned once, not twice.
  const bool shared = gin && g.OH == g.H && g.OW == g.W;
  if (gin && !shared)
    forward_transformed(t, U, nullptr, nullptr, false, gout, nullptr, gin, phases);
  // Images in groups fixed by the shape alone, at most 8 and at least a block of images each:
  // each group's dL/dU part, summed over its blocks of images in order. (Groups of 8 images on
  // 7 x 7 planes halved the matrix products' depth and, at 36 x C x O floats a part, made the
  // parts' sum slower than the products it combined: 2 threads ran 1.26x faster than 1.)
  const Tiles tl(g.OH, g.OW);
  const int64_t images = block_images(tl), most = images * tl.T;
  const int64_t group = std::max(images, (g.N + 7) / 8), groups = (g.N + group - 1) / group;
  const int64_t part_size = kXi * g.C * g.O, CO = std::max(g.C, g.O);
  float* parts = scratch(4, static_cast<size_t>(groups * part_size));
  const bool spread = groups < kSpreadBelow;
  const auto group_body = [&](int64_t task) {
    const int64_t n0 = task * group, n1 = std::min(g.N, n0 + group);
    const auto work_size =
        static_cast<size_t>(std::max(std::max(g.H * g.W, g.OH * g.OW) * CO, phase_floats(phases)));
    const auto P_size = static_cast<size_t>(std::max(tl.Hp * tl.Wp * CO, phase_floats(phases)));
    // work: a channels-last image or output gradient. Slot 6 holds the input gradient's products
    // (scratch.h: the calling thread's 4-7 are its own).
    float* work = scratch(0, work_size);
    float* P = scratch(1, P_size);
    float* V = scratch(2, static_cast<size_t>(kXi * (most * CO + kSkew)));
    float* dM = scratch(3, static_cast<size_t>(kXi * (most * g.O + kSkew)));
    float* M = shared ? scratch(6, static_cast<size_t>(kXi * (most * g.C + kSkew))) : nullptr;
    float* part = parts + task * part_size;
    for (int64_t n = n0; n < n1; n += images) {
      const int64_t count = std::min(images, n1 - n), tiles = count * tl.T;
      const int64_t vx = tiles * g.C + kSkew, mx = tiles * g.O + kSkew;
      if (shared) {
        const int64_t inside = (t.PH * tl.Wp + t.PW) * g.O;  // the first pixel of the plane
        forward_block(
            t, tl, U, nullptr, nullptr, false, gout, nullptr, n, count,
            {work, P, V, M, work_size, P_size}, gin, phases,
            [&](int64_t k, const float* Pg) {
              gradient_transform(g.O, g.OH, g.OW, tl, Pg + inside, tl.Wp, dM + k * tl.T * g.O, mx);
            },
            spread);
      }
      for_images(spread, count, {work, P, V, dM, work_size, P_size},
                 [&](int64_t k, float* work_k, float* P_k) {
                   load_padded(g, tl, phases, in, n + k, work_k, P_k);
                   input_transform(g.C, tl, P_k, V + k * tl.T * g.C, vx);
                   if (shared) return;
                   transpose(g.O, g.OH * g.OW, gout + (n + k) * g.O * g.OH * g.OW, g.OH * g.OW,
                             work_k);
                   gradient_transform(g.O, g.OH, g.OW, tl, work_k, g.OW, dM + k * tl.T * g.O, mx);
                 });
      for_positions(spread, [&](int xi) {
        gemm_tn(g.C, g.O, tiles, V + xi * vx, g.C, dM + xi * mx, g.O, part + xi * g.C * g.O, g.O,
                /*accumulate=*/n != n0);
      });
    }
  };
  for_blocks(spread, groups, group_body);
  add_kernel_gradient<T>(g.C, g.O, parts, groups, part_size, gw);
}

}  // namespace convlab::kernels
