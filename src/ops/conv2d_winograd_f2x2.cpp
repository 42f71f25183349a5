// Winograd's minimal filtering F(2x2, RxR) (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for 5x5 and 7x7 stride-1 convolutions (written for any R; 3x3 layers
// run F(4x4, 3x3) in conv2d_winograd3x3.cpp, faster on every shape). Each 2x2 tile of output is
//
//   y = A^T [ (G g G^T) . (B^T d B) ] A      (. elementwise over a x a, a = R + 1; d the tile's
//                                              a x a input patch, g the R x R kernel)
//
// so that summed over input channels, each of the a^2 positions xi of the transformed tile is an
// ordinary matrix product: M_xi (O x tiles) = U_xi (O x C) V_xi (C x tiles). a^2 products of
// 4 x R^2 per tile and channel pair: 100 / 36 = 2.8 times fewer for 5x5, 196 / 64 = 3.1 for 7x7.
// The matrices (winograd_transform.h) come from the Toom-Cook construction at the points 0, 1,
// -1, 2, -1/2 and infinity (for 7x7 also -2 and 1/2); tools/winograd_points.py derives them
// exactly and measures each choice of points (for 5x5, 0, +-1, +-2 loses 2.6 times more).
//
//   input gradient  the same algorithm on the output gradient with the kernel turned by 180
//                   degrees and its channel axes swapped, padding R - 1 - P (a full correlation).
//   weight gradient dL/dU_xi = sum over tiles dM_xi V_xi^T with dM = A dY A^T, then
//                   dL/dg = G^T dL/dU G: matrix products over the tiles of fixed groups of images,
//                   the groups' parts added in order.
//
// Results are not the direct sums' bits: the transforms round differently. The largest error of
// an output up to 3.6 is 6.7e-6 for 5x5, of one up to 4.1 2.5e-5 for 7x7 (tools/winograd_points.py,
// C = 64), well inside PyTorch's golden tolerances. They are fixed by the geometry: the same at any
// thread count. The transforms run 16 tiles of a tile row at a time (even and odd columns split by
// shuffles), each matrix applied by adds and multiply-adds unrolled from its constant entries.
#include "conv2d_winograd_f2x2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "conv2d_bias_grad.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "derived_weights.h"
#include "gemm.h"
#include "scratch.h"
#include "winograd_transform.h"

// GCC 12's AVX-512 headers leave a placeholder operand undefined in some intrinsics and then warn
// about it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

namespace {

constexpr int64_t kLanes = 16;

// The tiles of an output plane (OH x OW) and the zero-bordered copy of an input plane they read:
// tile (ty, tx) covers output rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 and reads padded rows
// 2ty .. 2ty + R, columns 2tx .. 2tx + R (padded (r, q) is input (r - PH, q - PW)). Rows of tiles
// are done 16 tiles at a time, so the padded width covers whole vectors of tiles.
//
// On planes of exactly 8 tiles a row (15 or 16 output columns) a vector holds two rows of tiles
// side by side, ty in lanes 0-7 and ty + 1 in lanes 8-15, which follow each other in the tiles'
// order: one row a vector filled half of each (the transforms took 40 % of a 16 -> 32 7x7 layer's
// forward pass). The permutes that take 16 tiles' even and odd columns from 32 consecutive floats
// take them from two rows' 16 floats as well.
template <int R>
struct Tiles {
  int64_t TH, TW, T, Hp, Wp;
  bool pairs;  // two rows of 8 tiles a vector
  Tiles(int64_t OH, int64_t OW)
      : TH((OH + 1) / 2),
        TW((OW + 1) / 2),
        T(TH * TW),
        Hp(2 * TH + R - 1),
        Wp(2 * ((TW + kLanes - 1) / kLanes * kLanes) + R - 1),
        pairs(TW == 8) {}
  int64_t rows_per_vector() const { return pairs ? 2 : 1; }
  // Whether the vector of row ty has a second row (pairs only: ty + 1 is in the block).
  bool second(int64_t ty, int64_t ty1) const { return pairs && ty + 1 < ty1; }
  // The lanes of the vector from (ty, tx) that hold tiles.
  __mmask16 mask(int64_t ty, int64_t ty1, int64_t tx) const {
    if (!pairs) return lanes_mask(TW - tx);
    return second(ty, ty1) ? __mmask16(0xFFFF) : __mmask16(0x00FF);
  }
};

template <int R>
void pad_planes(int64_t C, int64_t H, int64_t W, int64_t PH, int64_t PW, const Tiles<R>& tl,
                const float* src, float* dst) {
  copy_into_zeroed(src, C, H, W, dst, tl.Hp, tl.Wp, PH, PW);
}

// 16 floats at p and 16 at p + next as their even and odd elements (next = 16: 32 consecutive).
CONVLAB_WINO_INLINE void split(const float* p, int64_t next, __m512& even, __m512& odd) {
  const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i o = _mm512_add_epi32(e, _mm512_set1_epi32(1));
  const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + next);
  even = _mm512_permutex2var_ps(a, e, b);
  odd = _mm512_permutex2var_ps(a, o, b);
}

// V[(xi * C + c) * ld + t] = (B^T d B)[xi] for every tile t of the tile rows [ty0, ty1) (t counted
// from row ty0) and channel c of a padded image.
template <int R>
CONVLAB_WINO void input_transform(int64_t C, const Tiles<R>& tl, const float* pad, int64_t ty0,
                                  int64_t ty1, float* V, int64_t ld, int64_t xstride) {
  using T = Transform<2, R>;
  constexpr int a = T::a;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t ty = ty0; ty < ty1; ty += tl.rows_per_vector()) {
      const float* rows = pad + (c * tl.Hp + 2 * ty) * tl.Wp;
      // Where lanes 8-15's floats start: the next tile row's patch rows, 2 rows down (past the
      // last row, the rest of this one: lanes not stored).
      const int64_t next = tl.second(ty, ty1) ? 2 * tl.Wp : kLanes;
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        // B^T d, two columns at a time (a split load gives both): e[column][row]. (All a columns
        // loaded first kept 2 a^2 vectors live and spilled most of them.)
        __m512 e[a][a];
        for (int j = 0; j < a; j += 2) {
          __m512 even[a], odd[a];
          for (int i = 0; i < a; ++i) split(rows + i * tl.Wp + 2 * tx + j, next, even[i], odd[i]);
          apply<a, a>(T::BT, even, e[j]);
          apply<a, a>(T::BT, odd, e[j + 1]);
        }
        const __mmask16 m = tl.mask(ty, ty1, tx);
        float* dst = V + c * ld + (ty - ty0) * tl.TW + tx;
        for (int i = 0; i < a; ++i) {  // (B^T d) B, row by row
          __m512 row[a], v[a];
          for (int j = 0; j < a; ++j) row[j] = e[j][i];
          apply<a, a>(T::BT, row, v);
          for (int j = 0; j < a; ++j) _mm512_mask_storeu_ps(dst + (a * i + j) * xstride, m, v[j]);
        }
      }
    }
}

// out[o] rows 2ty, 2ty + 1 = A^T M A + bias for the tiles of tile rows [ty0, ty1),
// M[(xi * O + o) * ld + t] (t counted from row ty0).
template <int R>
CONVLAB_WINO void output_transform(int64_t O, int64_t OH, int64_t OW, const Tiles<R>& tl,
                                   int64_t ty0, int64_t ty1, const float* M, int64_t ld,
                                   int64_t xstride, const float* bias, float* out) {
  using T = Transform<2, R>;
  constexpr int a = T::a;
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int64_t o = 0; o < O; ++o) {
    const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
    for (int64_t ty = ty0; ty < ty1; ty += tl.rows_per_vector())
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        const __mmask16 m = tl.mask(ty, ty1, tx);
        const float* src = M + o * ld + (ty - ty0) * tl.TW + tx;
        __m512 s[a][2];  // A^T M, column by column
        for (int j = 0; j < a; ++j) {
          __m512 col[a];
          for (int i = 0; i < a; ++i)
            col[i] = _mm512_maskz_loadu_ps(m, src + (a * i + j) * xstride);
          apply<2, a>(T::AT, col, s[j]);
        }
        const int64_t cols = std::min<int64_t>(2 * kLanes, OW - 2 * tx);
        for (int i = 0; i < 2 && 2 * ty + i < OH; ++i) {  // (A^T M) A, then columns interleaved
          __m512 row[a], y[2];
          for (int j = 0; j < a; ++j) row[j] = s[j][i];
          apply<2, a>(T::AT, row, y);
          float* dst = out + (o * OH + 2 * ty + i) * OW + 2 * tx;
          const __m512 y0 = _mm512_add_ps(y[0], b), y1 = _mm512_add_ps(y[1], b);
          _mm512_mask_storeu_ps(dst, lanes_mask(cols), _mm512_permutex2var_ps(y0, lo, y1));
          // Lanes 8-15: the row's next 16 columns, or with pairs the next tile row's row i.
          if (tl.pairs ? tl.second(ty, ty1) && 2 * ty + 2 + i < OH : cols > kLanes)
            _mm512_mask_storeu_ps(tl.pairs ? dst + 2 * OW : dst + kLanes,
                                  lanes_mask(tl.pairs ? cols : cols - kLanes),
                                  _mm512_permutex2var_ps(y0, hi, y1));
        }
      }
  }
}

// dM[(xi * O + o) * ld + t] = (A dY A^T)[xi] for the tiles of tile rows [ty0, ty1) of an image's
// output gradient (dY the tile's 2x2, zero past the plane; t counted from row ty0).
template <int R>
CONVLAB_WINO void gradient_transform(int64_t O, int64_t OH, int64_t OW, const Tiles<R>& tl,
                                     int64_t ty0, int64_t ty1, const float* gout, float* dM,
                                     int64_t ld, int64_t xstride) {
  using T = Transform<2, R>;
  constexpr int a = T::a;
  const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_add_epi32(e, _mm512_set1_epi32(1));
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t ty = ty0; ty < ty1; ty += tl.rows_per_vector())
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        const int64_t cols = std::min<int64_t>(2 * kLanes, OW - 2 * tx);
        __m512 p[2], q[2];  // rows 2ty, 2ty + 1: even (p) and odd (q) columns
        for (int i = 0; i < 2; ++i) {
          p[i] = q[i] = zero;
          if (2 * ty + i >= OH) continue;
          const float* row = gout + (o * OH + 2 * ty + i) * OW + 2 * tx;
          const __m512 lo = _mm512_maskz_loadu_ps(lanes_mask(cols), row);
          // Lanes 8-15: the row's next 16 columns, or with pairs the next tile row's row i.
          const __m512 hi = tl.pairs ? (tl.second(ty, ty1) && 2 * ty + 2 + i < OH
                                            ? _mm512_maskz_loadu_ps(lanes_mask(cols), row + 2 * OW)
                                            : zero)
                            : cols > kLanes
                                ? _mm512_maskz_loadu_ps(lanes_mask(cols - kLanes), row + kLanes)
                                : zero;
          p[i] = _mm512_permutex2var_ps(lo, e, hi);
          q[i] = _mm512_permutex2var_ps(lo, od, hi);
        }
        __m512 rp[a], rq[a];  // A dY: the even and odd columns' a rows
        apply<a, 2, true>(T::AT, p, rp);
        apply<a, 2, true>(T::AT, q, rq);
        const __mmask16 m = tl.mask(ty, ty1, tx);
        float* dst = dM + o * ld + (ty - ty0) * tl.TW + tx;
        for (int i = 0; i < a; ++i) {  // each row (p, q) times A^T
          const __m512 pq[2] = {rp[i], rq[i]};
          __m512 v[a];
          apply<a, 2, true>(T::AT, pq, v);
          for (int j = 0; j < a; ++j) _mm512_mask_storeu_ps(dst + (a * i + j) * xstride, m, v[j]);
        }
      }
}

// U[xi * xs + c] = (G g_c G^T)[xi] for C kernels given tap-major (g_c[k] = taps[k * C + c]), 16
// kernels per vector.
template <int R>
CONVLAB_WINO void transform_kernels(int64_t C, const float* taps, float* U, int64_t xs) {
  using T = Transform<2, R>;
  constexpr int a = T::a;
  for (int64_t c = 0; c < C; c += kLanes) {
    const __mmask16 m = lanes_mask(C - c);
    __m512 gg[R][a];  // G g, column by column
    for (int j = 0; j < R; ++j) {
      __m512 col[R];
      for (int k = 0; k < R; ++k) col[k] = _mm512_maskz_loadu_ps(m, taps + (k * R + j) * C + c);
      apply<a, R>(T::G, col, gg[j]);
    }
    for (int i = 0; i < a; ++i) {  // (G g) G^T
      __m512 row[R], u[a];
      for (int j = 0; j < R; ++j) row[j] = gg[j][i];
      apply<a, R>(T::G, row, u);
      for (int j = 0; j < a; ++j) _mm512_mask_storeu_ps(U + (a * i + j) * xs + c, m, u[j]);
    }
  }
}

// U[(xi * O + o) * C + c] = (G g G^T)[xi] for the RxR kernels g of output channel o: gather(o,
// taps) writes its C kernels tap-major, taps[(R i + j) * C + c] = g[o][c][i][j] (turned 16 x 16
// tiles at a time: a scalar gather had cost about as much as the transform), then transformed 16
// at a time; 4 output channels per task (run on one thread it took a third of a batch-1 inference
// of conv5x5). Once per call, not per image: at batch 1 a scalar transform cost more than the
// convolution. Tasks use their scratch slot 0 (2 R^2 C floats), free between the kernels' uses.
template <int R, typename Gather>
void weight_transform(int64_t O, int64_t C, Gather gather, float* U) {
  constexpr int64_t kPerTask = 4;
  parallel_for((O + kPerTask - 1) / kPerTask, [&](int64_t task) {
    float* taps = scratch(0, static_cast<size_t>(2 * R * R * C));
    for (int64_t o = task * kPerTask; o < std::min(O, (task + 1) * kPerTask); ++o) {
      gather(o, taps);
      transform_kernels<R>(C, taps, U + o * C, O * C);
    }
  });
}

// The tiles of one matrix product: enough to fill a few 64-column blocks of the GEMM while its
// operands (a^2 positions x channels x tiles) stay in the core's cache. A block is either whole
// images (planes of fewer tiles) or some tile rows of one image; fixed by the plane's size alone.
struct Blocks {
  int64_t images;  // images per block
  int64_t rows;    // tile rows per block (all of them when images > 1)
  Blocks(int64_t TH, int64_t TW, int64_t want_tiles)
      : images(std::max<int64_t>(1, want_tiles / (TH * TW))),
        rows(images > 1 ? TH : std::min(TH, (want_tiles + TW - 1) / TW)) {}
};
constexpr int64_t kBlockTiles = 64;
// Floats between the positions' matrices beyond their size: whole multiples of 4 KiB apart, the
// streams a transform writes would all fall into the same sets of the L1 cache.
constexpr int64_t kSkew = 16;

// Calls f(first image, images, first tile row, last tile row) for each block of images [n0, n1),
// in order.
template <typename F>
void for_each_block(int64_t TH, const Blocks& b, int64_t n0, int64_t n1, F f) {
  for (int64_t n = n0; n < n1; n += b.images)
    for (int64_t ty = 0; ty < TH; ty += b.rows)
      f(n, std::min(b.images, n1 - n), ty, std::min(TH, ty + b.rows));
}

// The forward algorithm with the kernel already transformed (U, O x C per position): one block of
// images per task, or below kSplitBelow images, one block of tile rows of an image per task
// (blocks of 32 tiles, not 64), so that batch 1 keeps every thread busy. Each output is the same
// sum whichever block computes it.
template <int R>
void forward_transformed(const Conv2dGeometry& g, const float* U, const float* bias,
                         const float* in, float* out) {
  constexpr int xis = Transform<2, R>::a * Transform<2, R>::a;
  constexpr int64_t kSplitBelow = 8;
  const Tiles<R> tl(g.OH, g.OW);
  const bool split = g.N < kSplitBelow;
  const Blocks blocks(tl.TH, tl.TW, split ? kBlockTiles / 2 : kBlockTiles);
  const int64_t most = blocks.images * blocks.rows * tl.TW;
  const int64_t row_blocks = split ? (tl.TH + blocks.rows - 1) / blocks.rows : 1;
  const int64_t images = split ? 1 : blocks.images;  // per task
  parallel_for((g.N + images - 1) / images * row_blocks, [&](int64_t task) {
    float* pad = scratch(0, static_cast<size_t>(images * g.C * tl.Hp * tl.Wp));
    float* V = scratch(1, static_cast<size_t>(xis * (g.C * most + kSkew)));
    float* M = scratch(2, static_cast<size_t>(xis * (g.O * most + kSkew)));
    const int64_t n0 = task / row_blocks * images, n1 = std::min(g.N, n0 + images);
    const int64_t plane = g.C * tl.Hp * tl.Wp;
    for (int64_t n = n0; n < n1; ++n)
      pad_planes(g.C, g.H, g.W, g.PH, g.PW, tl, in + n * g.C * g.H * g.W, pad + (n - n0) * plane);
    const auto block = [&](int64_t n, int64_t count, int64_t ty0, int64_t ty1) {
      const int64_t per_image = (ty1 - ty0) * tl.TW, ld = count * per_image;
      const int64_t vx = g.C * ld + kSkew, mx = g.O * ld + kSkew;
      for (int64_t k = 0; k < count; ++k)
        input_transform(g.C, tl, pad + (n + k - n0) * plane, ty0, ty1, V + k * per_image, ld, vx);
      for (int xi = 0; xi < xis; ++xi)
        gemm_nn(g.O, ld, g.C, U + xi * g.O * g.C, g.C, V + xi * vx, ld, M + xi * mx, ld,
                /*accumulate=*/false);
      for (int64_t k = 0; k < count; ++k)
        output_transform(g.O, g.OH, g.OW, tl, ty0, ty1, M + k * per_image, ld, mx, bias,
                         out + (n + k) * g.O * g.OH * g.OW);
    };
    if (!split) return for_each_block(tl.TH, blocks, n0, n1, block);
    const int64_t ty0 = task % row_blocks * blocks.rows;
    block(n0, 1, ty0, std::min(tl.TH, ty0 + blocks.rows));
  });
}

template <int R>
void forward(const Conv2dGeometry& g, const float* in, const float* w, const float* bias,
             float* out) {
  constexpr int xis = Transform<2, R>::a * Transform<2, R>::a;
  // Kept between calls while w is unchanged (derived_weights.h): inference transforms once.
  const float* U = derived_weights(
      DerivedKind::winograd_f2x2, g, w, g.O * g.C * R * R, xis * g.O * g.C, [&](float* form) {
        // Output channel o's kernels, C rows of R^2 taps, turned.
        weight_transform<R>(
            g.O, g.C,
            [&](int64_t o, float* taps) {
              transpose(g.C, R * R, w + o * g.C * R * R, R * R, taps, g.C);
            },
            form);
      });
  forward_transformed<R>(g, U, bias, in, out);
}

template <int R>
void backward(const Conv2dGeometry& g, const float* in, const float* w, const float* gout,
              float* gin, float* gw, float* gb) {
  constexpr int xis = Transform<2, R>::a * Transform<2, R>::a;
  if (gb) conv2d_bias_grad(g, gout, gb);
  if (gin) {
    // gin = gout correlated with the kernel turned by 180 degrees, channels swapped, padded by
    // R - 1 - P: a forward convolution from O channels of OH x OW to C channels of H x W.
    const Conv2dGeometry t{g.N, g.O, g.OH,         g.OW,         g.C, R,  R,
                           1,   1,   R - 1 - g.PH, R - 1 - g.PW, g.H, g.W};
    float* U = scratch(5, static_cast<size_t>(xis * g.C * g.O));
    // t's output channel c: the layer's w[o][c][R^2 - 1 - k] for every o (R^2 floats, C R^2
    // apart), turned into rows k' = R^2 - 1 - k, then rows in reverse order.
    weight_transform<R>(
        g.C, g.O,
        [&](int64_t c, float* taps) {
          float* turned = taps + R * R * g.O;
          transpose(g.O, R * R, w + c * R * R, g.C * R * R, turned, g.O);
          for (int k = 0; k < R * R; ++k)
            std::memcpy(taps + k * g.O, turned + (R * R - 1 - k) * g.O,
                        static_cast<size_t>(g.O) * sizeof(float));
        },
        U);
    forward_transformed<R>(t, U, nullptr, gout, gin);
  }
  if (gw) {
    // Images in groups fixed by the batch size alone (at most 8): each group's dL/dU part, the
    // positions' (C x O) products summed over its images in order.
    const Tiles<R> tl(g.OH, g.OW);
    const int64_t group = (g.N + 7) / 8, groups = (g.N + group - 1) / group;
    const int64_t part_size = xis * g.C * g.O;
    float* parts = scratch(4, static_cast<size_t>(groups * part_size));
    const Blocks blocks(tl.TH, tl.TW, kBlockTiles);
    const int64_t most = blocks.images * blocks.rows * tl.TW;
    parallel_for(groups, [&](int64_t t) {
      const int64_t n0 = t * group, n1 = std::min(g.N, n0 + group);
      const int64_t plane = g.C * tl.Hp * tl.Wp;
      float* pad = scratch(0, static_cast<size_t>(blocks.images * plane));
      float* V = scratch(1, static_cast<size_t>(xis * (g.C * most + kSkew)));
      float* dM = scratch(2, static_cast<size_t>(xis * (g.O * most + kSkew)));
      float* dMT = scratch(3, static_cast<size_t>(xis * (most * g.O + kSkew)));
      float* part = parts + t * part_size;
      // The group's blocks in order: dL/dU_xi += V_xi dM_xi^T over each block's tiles.
      bool first = true;
      for_each_block(
          tl.TH, blocks, n0, n1, [&](int64_t n, int64_t count, int64_t ty0, int64_t ty1) {
            const int64_t per_image = (ty1 - ty0) * tl.TW, ld = count * per_image;
            const int64_t vx = g.C * ld + kSkew, mx = g.O * ld + kSkew;
            for (int64_t k = 0; k < count; ++k) {
              if (ty0 == 0)
                pad_planes(g.C, g.H, g.W, g.PH, g.PW, tl, in + (n + k) * g.C * g.H * g.W,
                           pad + k * plane);
              input_transform(g.C, tl, pad + k * plane, ty0, ty1, V + k * per_image, ld, vx);
              gradient_transform(g.O, g.OH, g.OW, tl, ty0, ty1, gout + (n + k) * g.O * g.OH * g.OW,
                                 dM + k * per_image, ld, mx);
            }
            for (int xi = 0; xi < xis; ++xi) {
              transpose(g.O, ld, dM + xi * mx, ld, dMT + xi * mx);  // (tiles x O)
              gemm_nn(g.C, g.O, ld, V + xi * vx, ld, dMT + xi * mx, g.O, part + xi * g.C * g.O, g.O,
                      /*accumulate=*/!first);
            }
            first = false;
          });
    });
    add_kernel_gradient<Transform<2, R>>(g.C, g.O, parts, groups, part_size, gw);
  }
}

}  // namespace

bool winograd_f2x2_conv_applies(const Conv2dGeometry& g) {
  if (active_isa() != Isa::avx512 || g.KH != g.KW || g.SH != 1 || g.SW != 1 || g.OH < 8 ||
      g.OW < 8 || g.N * ((g.OH + 1) / 2) * ((g.OW + 1) / 2) < 64)
    return false;
  const int64_t R = g.KH, fewest = std::min(g.C, g.O);
  if (R == 5) return g.PH <= 4 && g.PW <= 4 && fewest >= 32;
  if (R == 7) return g.PH <= 6 && g.PW <= 6 && fewest >= 16 && (fewest >= 32 || g.OH * g.OW >= 100);
  return false;
}

void conv2d_forward_winograd_f2x2(const Conv2dGeometry& g, const float* in, const float* w,
                                  const float* bias, float* out) {
  if (g.KH == 7) return forward<7>(g, in, w, bias, out);
  forward<5>(g, in, w, bias, out);
}

void conv2d_backward_winograd_f2x2(const Conv2dGeometry& g, const float* in, const float* w,
                                   const float* gout, float* gin, float* gw, float* gb) {
  if (g.KH == 7) return backward<7>(g, in, w, gout, gin, gw, gb);
  backward<5>(g, in, w, gout, gin, gw, gb);
}

}  // namespace convlab::kernels
