// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for 3x3 stride-1 convolutions. Each 2x2 tile of output is
//
//   y = A^T [ (G g G^T) . (B^T d B) ] A      (. elementwise over 4x4; d the tile's 4x4 input patch)
//
//   B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
//         | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
//         | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
//         | 0  1  0 -1 |        | 0    0    1  |
//
// so that summed over input channels, each of the 16 positions xi of the 4x4 transformed tile is
// an ordinary matrix product: M_xi (O x tiles) = U_xi (O x C) V_xi (C x tiles). 16 products of
// 4 x 4 instead of 36 per tile and channel pair: 2.25 times fewer multiply-adds, the transforms
// being additions only (x 1/2 in G is exact).
//
//   input gradient  the same algorithm on the output gradient with the kernel turned by 180
//                   degrees and its channel axes swapped, padding 2 - P (a full correlation).
//   weight gradient dL/dU_xi = sum over tiles dM_xi V_xi^T with dM = A dY A^T, then
//                   dL/dg = G^T dL/dU G: matrix products over the tiles of fixed groups of images,
//                   the groups' parts added in order.
//
// Results are not the direct sums' bits: the transforms round differently. Against sums in double
// (8 images, weights scaled 1/sqrt(9C)), the largest error of an output of magnitude up to 6 was
// 7e-6 (direct float sums: 2.4e-7), of the input gradient 4-7e-6, of the weight gradient 1-6e-5
// in values up to 100-370: 1e-6 of the values, well inside PyTorch's golden tolerances. They are
// fixed by the geometry: the same at any thread count. The transforms run 16 tiles of a tile row
// at a time (even and odd columns split by shuffles).
#include "conv2d_winograd.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "conv2d_bias_grad.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "copy_rows.h"
#include "gemm.h"
#include "scratch.h"

// GCC 12's AVX-512 headers leave a placeholder operand undefined in some intrinsics and then warn
// about it once inlined (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace convlab::kernels {

namespace {

constexpr int64_t kLanes = 16;
constexpr int kXi = 16;  // positions of a transformed tile

#define CONVLAB_WINO __attribute__((target("avx512f")))

// The tiles of an output plane (OH x OW) and the zero-bordered copy of an input plane they read:
// tile (ty, tx) covers output rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 and reads padded rows
// 2ty .. 2ty + 3, columns 2tx .. 2tx + 3 (padded (r, q) is input (r - PH, q - PW)). Rows of tiles
// are done 16 tiles at a time, so the padded width covers whole vectors of tiles.
struct Tiles {
  int64_t TH, TW, T, Hp, Wp;
  Tiles(int64_t OH, int64_t OW)
      : TH((OH + 1) / 2),
        TW((OW + 1) / 2),
        T(TH * TW),
        Hp(2 * TH + 2),
        Wp(2 * ((TW + kLanes - 1) / kLanes * kLanes) + 2) {}
};

void pad_planes(int64_t C, int64_t H, int64_t W, int64_t PH, int64_t PW, const Tiles& tl,
                const float* src, float* dst) {
  copy_into_zeroed(src, C, H, W, dst, tl.Hp, tl.Wp, PH, PW);
}

CONVLAB_WINO inline __mmask16 lanes_mask(int64_t n) {
  return n >= kLanes ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// 32 floats at p as their even and odd elements.
CONVLAB_WINO inline void split(const float* p, __m512& even, __m512& odd) {
  const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i o = _mm512_add_epi32(e, _mm512_set1_epi32(1));
  const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + kLanes);
  even = _mm512_permutex2var_ps(a, e, b);
  odd = _mm512_permutex2var_ps(a, o, b);
}

// The four columns combined as B does (x0 - x2, x1 + x2, x2 - x1, x1 - x3), for both B^T d (rows)
// and (B^T d) B (columns).
CONVLAB_WINO inline void combine_b(const __m512 x[4], __m512 out[4]) {
  out[0] = _mm512_sub_ps(x[0], x[2]);
  out[1] = _mm512_add_ps(x[1], x[2]);
  out[2] = _mm512_sub_ps(x[2], x[1]);
  out[3] = _mm512_sub_ps(x[1], x[3]);
}

// V[(xi * C + c) * ld + t] = (B^T d B)[xi] for every tile t of the tile rows [ty0, ty1) (t counted
// from row ty0) and channel c of a padded image.
CONVLAB_WINO void input_transform(int64_t C, const Tiles& tl, const float* pad, int64_t ty0,
                                  int64_t ty1, float* V, int64_t ld, int64_t xstride) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      const float* rows = pad + (c * tl.Hp + 2 * ty) * tl.Wp;
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        __m512 x[4][4], e[4][4];  // x[row][column] of the 16 tiles' patches
        for (int i = 0; i < 4; ++i) {
          split(rows + i * tl.Wp + 2 * tx, x[i][0], x[i][1]);
          split(rows + i * tl.Wp + 2 * tx + 2, x[i][2], x[i][3]);
        }
        for (int j = 0; j < 4; ++j) {  // B^T d, column by column
          const __m512 col[4] = {x[0][j], x[1][j], x[2][j], x[3][j]};
          __m512 r[4];
          combine_b(col, r);
          for (int i = 0; i < 4; ++i) e[i][j] = r[i];
        }
        const __mmask16 m = lanes_mask(tl.TW - tx);
        float* dst = V + c * ld + (ty - ty0) * tl.TW + tx;
        for (int i = 0; i < 4; ++i) {  // (B^T d) B, row by row
          __m512 v[4];
          combine_b(e[i], v);
          for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(dst + (4 * i + j) * xstride, m, v[j]);
        }
      }
    }
}

// out[o] rows 2ty, 2ty + 1 = A^T M A + bias for the tiles of tile rows [ty0, ty1),
// M[(xi * O + o) * ld + t] (t counted from row ty0).
CONVLAB_WINO void output_transform(int64_t O, int64_t OH, int64_t OW, const Tiles& tl, int64_t ty0,
                                   int64_t ty1, const float* M, int64_t ld, int64_t xstride,
                                   const float* bias, float* out) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (int64_t o = 0; o < O; ++o) {
    const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
    for (int64_t ty = ty0; ty < ty1; ++ty)
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        const __mmask16 m = lanes_mask(tl.TW - tx);
        const float* src = M + o * ld + (ty - ty0) * tl.TW + tx;
        __m512 x[kXi];
        for (int k = 0; k < kXi; ++k) x[k] = _mm512_maskz_loadu_ps(m, src + k * xstride);
        __m512 s[2][4];  // A^T M
        for (int j = 0; j < 4; ++j) {
          s[0][j] = _mm512_add_ps(_mm512_add_ps(x[j], x[4 + j]), x[8 + j]);
          s[1][j] = _mm512_sub_ps(_mm512_sub_ps(x[4 + j], x[8 + j]), x[12 + j]);
        }
        const int64_t cols = std::min<int64_t>(2 * kLanes, OW - 2 * tx);
        for (int i = 0; i < 2 && 2 * ty + i < OH; ++i) {  // (A^T M) A, then columns interleaved
          const __m512 y0 =
              _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), b);
          const __m512 y1 =
              _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
          float* row = out + (o * OH + 2 * ty + i) * OW + 2 * tx;
          _mm512_mask_storeu_ps(row, lanes_mask(cols), _mm512_permutex2var_ps(y0, lo, y1));
          if (cols > kLanes)
            _mm512_mask_storeu_ps(row + kLanes, lanes_mask(cols - kLanes),
                                  _mm512_permutex2var_ps(y0, hi, y1));
        }
      }
  }
}

// dM[(xi * O + o) * ld + t] = (A dY A^T)[xi] for the tiles of tile rows [ty0, ty1) of an image's
// output gradient (dY the tile's 2x2, zero past the plane; t counted from row ty0).
CONVLAB_WINO void gradient_transform(int64_t O, int64_t OH, int64_t OW, const Tiles& tl,
                                     int64_t ty0, int64_t ty1, const float* gout, float* dM,
                                     int64_t ld, int64_t xstride) {
  const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_add_epi32(e, _mm512_set1_epi32(1));
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t ty = ty0; ty < ty1; ++ty)
      for (int64_t tx = 0; tx < tl.TW; tx += kLanes) {
        const int64_t cols = std::min<int64_t>(2 * kLanes, OW - 2 * tx);
        __m512 p[2], q[2];  // rows 2ty, 2ty + 1: even (p) and odd (q) columns
        for (int i = 0; i < 2; ++i) {
          p[i] = q[i] = zero;
          if (2 * ty + i >= OH) continue;
          const float* row = gout + (o * OH + 2 * ty + i) * OW + 2 * tx;
          const __m512 a = _mm512_maskz_loadu_ps(lanes_mask(cols), row);
          const __m512 b =
              cols > kLanes ? _mm512_maskz_loadu_ps(lanes_mask(cols - kLanes), row + kLanes) : zero;
          p[i] = _mm512_permutex2var_ps(a, e, b);
          q[i] = _mm512_permutex2var_ps(a, od, b);
        }
        // A dY: rows dY0, dY0 + dY1, dY0 - dY1, -dY1; then each row (p, q) times A^T:
        // p, p + q, p - q, -q.
        const __m512 rp[4] = {p[0], _mm512_add_ps(p[0], p[1]), _mm512_sub_ps(p[0], p[1]),
                              _mm512_sub_ps(zero, p[1])};
        const __m512 rq[4] = {q[0], _mm512_add_ps(q[0], q[1]), _mm512_sub_ps(q[0], q[1]),
                              _mm512_sub_ps(zero, q[1])};
        const __mmask16 m = lanes_mask(tl.TW - tx);
        float* dst = dM + o * ld + (ty - ty0) * tl.TW + tx;
        for (int i = 0; i < 4; ++i) {
          const __m512 v[4] = {rp[i], _mm512_add_ps(rp[i], rq[i]), _mm512_sub_ps(rp[i], rq[i]),
                               _mm512_sub_ps(zero, rq[i])};
          for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(dst + (4 * i + j) * xstride, m, v[j]);
        }
      }
}

// U[xi * xs + c] = (G g_c G^T)[xi] for C kernels given tap-major (g_c[k] = taps[k * C + c]), 16
// kernels per vector.
CONVLAB_WINO void transform_kernels(int64_t C, const float* taps, float* U, int64_t xs) {
  const __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t c = 0; c < C; c += kLanes) {
    const __mmask16 m = lanes_mask(C - c);
    __m512 g[9], gg[4][3];  // g, then G g
    for (int k = 0; k < 9; ++k) g[k] = _mm512_maskz_loadu_ps(m, taps + k * C + c);
    for (int j = 0; j < 3; ++j) {
      const __m512 g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
      gg[0][j] = g0;
      gg[1][j] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(g0, g1), g2));
      gg[2][j] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(g0, g1), g2));
      gg[3][j] = g2;
    }
    for (int i = 0; i < 4; ++i) {  // (G g) G^T
      const __m512 r0 = gg[i][0], r1 = gg[i][1], r2 = gg[i][2];
      const __m512 u[4] = {r0, _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(r0, r1), r2)),
                           _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(r0, r1), r2)), r2};
      for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(U + (4 * i + j) * xs + c, m, u[j]);
    }
  }
}

// U[(xi * O + o) * C + c] = (G g G^T)[xi] for the 3x3 kernels g = at(o, c, i, j): per o, its C
// kernels gathered tap-major, then transformed 16 at a time. (Once per call, not per image: at
// batch 1 a scalar transform cost more than the convolution.) Uses the caller's scratch slot 0,
// free between the tasks' uses.
template <typename At>
void weight_transform(int64_t O, int64_t C, At at, float* U) {
  float* taps = scratch(0, static_cast<size_t>(9 * C));
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t c = 0; c < C; ++c)
      for (int k = 0; k < 9; ++k) taps[k * C + c] = at(o, c, k / 3, k % 3);
    transform_kernels(C, taps, U + o * C, O * C);
  }
}

// The tiles of one matrix product: enough to fill a few 64-column blocks of the GEMM while its
// operands (16 positions x channels x tiles) stay in the core's cache. A block is either whole
// images (planes of fewer tiles) or some tile rows of one image; fixed by the plane's size alone.
struct Blocks {
  int64_t images;  // images per block
  int64_t rows;    // tile rows per block (all of them when images > 1)
  Blocks(const Tiles& tl, int64_t want_tiles)
      : images(std::max<int64_t>(1, want_tiles / tl.T)),
        rows(images > 1 ? tl.TH : std::min(tl.TH, (want_tiles + tl.TW - 1) / tl.TW)) {}
};
constexpr int64_t kBlockTiles = 64;
// Floats between the 16 positions' matrices beyond their size: whole multiples of 4 KiB apart, the
// 16 streams a transform writes would all fall into the same sets of the L1 cache.
constexpr int64_t kSkew = 16;

// Calls f(first image, images, first tile row, last tile row) for each block of images [n0, n1),
// in order.
template <typename F>
void for_each_block(const Tiles& tl, const Blocks& b, int64_t n0, int64_t n1, F f) {
  for (int64_t n = n0; n < n1; n += b.images)
    for (int64_t ty = 0; ty < tl.TH; ty += b.rows)
      f(n, std::min(b.images, n1 - n), ty, std::min(tl.TH, ty + b.rows));
}

// The forward algorithm with the kernel already transformed (U, O x C per position): one block of
// images per task.
void forward_transformed(const Conv2dGeometry& g, const float* U, const float* bias,
                         const float* in, float* out) {
  const Tiles tl(g.OH, g.OW);
  const Blocks blocks(tl, kBlockTiles);
  const int64_t most = blocks.images * blocks.rows * tl.TW;
  parallel_for((g.N + blocks.images - 1) / blocks.images, [&](int64_t task) {
    float* pad = scratch(0, static_cast<size_t>(blocks.images * g.C * tl.Hp * tl.Wp));
    float* V = scratch(1, static_cast<size_t>(kXi * (g.C * most + kSkew)));
    float* M = scratch(2, static_cast<size_t>(kXi * (g.O * most + kSkew)));
    const int64_t n0 = task * blocks.images, n1 = std::min(g.N, n0 + blocks.images);
    const int64_t plane = g.C * tl.Hp * tl.Wp;
    for (int64_t n = n0; n < n1; ++n)
      pad_planes(g.C, g.H, g.W, g.PH, g.PW, tl, in + n * g.C * g.H * g.W, pad + (n - n0) * plane);
    for_each_block(tl, blocks, n0, n1, [&](int64_t n, int64_t count, int64_t ty0, int64_t ty1) {
      const int64_t per_image = (ty1 - ty0) * tl.TW, ld = count * per_image;
      const int64_t vx = g.C * ld + kSkew, mx = g.O * ld + kSkew;
      for (int64_t k = 0; k < count; ++k)
        input_transform(g.C, tl, pad + (n + k - n0) * plane, ty0, ty1, V + k * per_image, ld, vx);
      for (int xi = 0; xi < kXi; ++xi)
        gemm_nn(g.O, ld, g.C, U + xi * g.O * g.C, g.C, V + xi * vx, ld, M + xi * mx, ld,
                /*accumulate=*/false);
      for (int64_t k = 0; k < count; ++k)
        output_transform(g.O, g.OH, g.OW, tl, ty0, ty1, M + k * per_image, ld, mx, bias,
                         out + (n + k) * g.O * g.OH * g.OW);
    });
  });
}

}  // namespace

bool winograd_conv_applies(const Conv2dGeometry& g) {
  return active_isa() == Isa::avx512 && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 &&
         g.PH <= 2 && g.PW <= 2 && g.C >= 32 && g.O >= 32 && g.OH >= 8 && g.OW >= 8 &&
         g.N * ((g.OH + 1) / 2) * ((g.OW + 1) / 2) >= 64;
}

void conv2d_forward_winograd(const Conv2dGeometry& g, const float* in, const float* w,
                             const float* bias, float* out) {
  float* U = scratch(5, static_cast<size_t>(kXi * g.O * g.C));
  weight_transform(
      g.O, g.C,
      [&](int64_t o, int64_t c, int i, int j) { return w[((o * g.C + c) * 3 + i) * 3 + j]; }, U);
  forward_transformed(g, U, bias, in, out);
}

void conv2d_backward_winograd(const Conv2dGeometry& g, const float* in, const float* w,
                              const float* gout, float* gin, float* gw, float* gb) {
  if (gb) conv2d_bias_grad(g, gout, gb);
  if (gin) {
    // gin = gout correlated with the kernel turned by 180 degrees, channels swapped, padded by
    // 2 - P: a forward convolution from O channels of OH x OW to C channels of H x W.
    const Conv2dGeometry t{g.N, g.O, g.OH, g.OW, g.C, 3, 3, 1, 1, 2 - g.PH, 2 - g.PW, g.H, g.W};
    float* U = scratch(5, static_cast<size_t>(kXi * g.C * g.O));
    weight_transform(
        g.C, g.O,
        [&](int64_t c, int64_t o, int i, int j) {
          return w[((o * g.C + c) * 3 + 2 - i) * 3 + 2 - j];
        },
        U);
    forward_transformed(t, U, nullptr, gout, gin);
  }
  if (gw) {
    // Images in groups fixed by the batch size alone (at most 8): each group's dL/dU part, the
    // positions' (C x O) products summed over its images in order.
    const Tiles tl(g.OH, g.OW);
    const int64_t group = (g.N + 7) / 8, groups = (g.N + group - 1) / group;
    const int64_t part_size = kXi * g.C * g.O;
    float* parts = scratch(4, static_cast<size_t>(groups * part_size));
    const Blocks blocks(tl, kBlockTiles);
    const int64_t most = blocks.images * blocks.rows * tl.TW;
    parallel_for(groups, [&](int64_t t) {
      const int64_t n0 = t * group, n1 = std::min(g.N, n0 + group);
      const int64_t plane = g.C * tl.Hp * tl.Wp;
      float* pad = scratch(0, static_cast<size_t>(blocks.images * plane));
      float* V = scratch(1, static_cast<size_t>(kXi * (g.C * most + kSkew)));
      float* dM = scratch(2, static_cast<size_t>(kXi * (g.O * most + kSkew)));
      float* dMT = scratch(3, static_cast<size_t>(kXi * (most * g.O + kSkew)));
      float* part = parts + t * part_size;
      // The group's blocks in order: dL/dU_xi += V_xi dM_xi^T over each block's tiles.
      bool first = true;
      for_each_block(tl, blocks, n0, n1, [&](int64_t n, int64_t count, int64_t ty0, int64_t ty1) {
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
        for (int xi = 0; xi < kXi; ++xi) {
          transpose(g.O, ld, dM + xi * mx, ld, dMT + xi * mx);  // (tiles x O)
          gemm_nn(g.C, g.O, ld, V + xi * vx, ld, dMT + xi * mx, g.O, part + xi * g.C * g.O, g.O,
                  /*accumulate=*/!first);
        }
        first = false;
      });
    });
    float* total = scratch(6, static_cast<size_t>(part_size));
    std::fill(total, total + part_size, 0.0f);
    add_parts_in_order(total, parts, groups, part_size, part_size);
    // dL/dg = G^T dL/dU G per (o, c); dL/dU at position xi is total[(xi * C + c) * O + o].
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t c = 0; c < g.C; ++c) {
        float gu[3][4];  // G^T dL/dU
        for (int j = 0; j < 4; ++j) {
          const auto u = [&](int i) { return total[((4 * i + j) * g.C + c) * g.O + o]; };
          gu[0][j] = u(0) + 0.5f * (u(1) + u(2));
          gu[1][j] = 0.5f * (u(1) - u(2));
          gu[2][j] = 0.5f * (u(1) + u(2)) + u(3);
        }
        float* dst = gw + (o * g.C + c) * 9;
        for (int i = 0; i < 3; ++i) {  // (G^T dL/dU) G
          const float r0 = gu[i][0], r1 = gu[i][1], r2 = gu[i][2], r3 = gu[i][3];
          dst[3 * i + 0] += r0 + 0.5f * (r1 + r2);
          dst[3 * i + 1] += 0.5f * (r1 - r2);
          dst[3 * i + 2] += 0.5f * (r1 + r2) + r3;
        }
      }
  }
}

}  // namespace convlab::kernels
