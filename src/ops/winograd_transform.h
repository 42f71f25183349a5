// The transforms of Winograd's minimal filtering F(MxM, RxR) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016), y = A^T [(G g G^T) . (B^T d B)] A, as constant matrices,
// and their application to 16 tiles or channels at a time on AVX-512; shared by the tile-lane
// kernels for 5x5 and 7x7 (conv2d_winograd_f2x2.cpp) and the channel-lane kernels for 3x3
// (conv2d_winograd3x3.cpp).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "convlab/ops/parallel.h"
#include "scratch.h"
#include "simd.h"

namespace convlab::kernels {

#define CONVLAB_WINO __attribute__((target("avx512f")))
#define CONVLAB_WINO_INLINE __attribute__((target("avx512f"), always_inline)) inline

// The transform of F(MxM, RxR): B^T (a x a, a = M + R - 1) for input patches, G (a x R) for
// kernels, A^T (M x a) for outputs; from the Toom-Cook construction (tools/winograd_points.py) at
// the points 0, 1, -1, 2, -1/2 and infinity.
template <int M, int R>
struct Transform;

template <>
struct Transform<2, 5> {
  static constexpr int m = 2, r = 5;
  static constexpr int a = 6;
  static constexpr float BT[6][6] = {{1, 1.5f, -2, -1.5f, 1, 0}, {0, -1, -2.5f, -0.5f, 1, 0},
                                     {0, 1, 0.5f, -2.5f, 1, 0},  {0, -0.5f, -1, 0.5f, 1, 0},
                                     {0, 2, -1, -2, 1, 0},       {0, 1, 1.5f, -2, -1.5f, 1}};
  static constexpr float G[6][5] = {{1, 0, 0, 0, 0},
                                    {-1.f / 3, -1.f / 3, -1.f / 3, -1.f / 3, -1.f / 3},
                                    {1.f / 3, -1.f / 3, 1.f / 3, -1.f / 3, 1.f / 3},
                                    {1.f / 15, 2.f / 15, 4.f / 15, 8.f / 15, 16.f / 15},
                                    {-16.f / 15, 8.f / 15, -4.f / 15, 2.f / 15, -1.f / 15},
                                    {0, 0, 0, 0, 1}};
  static constexpr float AT[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -0.5f, 1}};
};

// At the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (a = 8): 64 multiplications per 2x2 tile
// instead of 196. The largest error of an output up to 4.1 is 2.5e-5 (tools/winograd_points.py, C =
// 64), 2.7 times F(4x4, 3x3)'s.
template <>
struct Transform<2, 7> {
  static constexpr int m = 2, r = 7;
  static constexpr int a = 8;
  static constexpr float BT[8][8] = {{-1, 0, 21.f / 4, 0, -21.f / 4, 0, 1, 0},
                                     {0, 1, 1, -17.f / 4, -17.f / 4, 1, 1, 0},
                                     {0, -1, 1, 17.f / 4, -17.f / 4, -1, 1, 0},
                                     {0, 1.f / 2, 1.f / 4, -5.f / 2, -5.f / 4, 2, 1, 0},
                                     {0, -1.f / 2, 1.f / 4, 5.f / 2, -5.f / 4, -2, 1, 0},
                                     {0, 2, 4, -5.f / 2, -5, 1.f / 2, 1, 0},
                                     {0, -2, 4, 5.f / 2, -5, -1.f / 2, 1, 0},
                                     {0, -1, 0, 21.f / 4, 0, -21.f / 4, 0, 1}};
  static constexpr float G[8][7] = {
      {-1, 0, 0, 0, 0, 0, 0},
      {-2.f / 9, -2.f / 9, -2.f / 9, -2.f / 9, -2.f / 9, -2.f / 9, -2.f / 9},
      {-2.f / 9, 2.f / 9, -2.f / 9, 2.f / 9, -2.f / 9, 2.f / 9, -2.f / 9},
      {1.f / 90, 1.f / 45, 2.f / 45, 4.f / 45, 8.f / 45, 16.f / 45, 32.f / 45},
      {1.f / 90, -1.f / 45, 2.f / 45, -4.f / 45, 8.f / 45, -16.f / 45, 32.f / 45},
      {32.f / 45, 16.f / 45, 8.f / 45, 4.f / 45, 2.f / 45, 1.f / 45, 1.f / 90},
      {32.f / 45, -16.f / 45, 8.f / 45, -4.f / 45, 2.f / 45, -1.f / 45, 1.f / 90},
      {0, 0, 0, 0, 0, 0, 1}};
  static constexpr float AT[2][8] = {{1, 1, 1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0.5f, -0.5f, 1}};
};

// B^T depends on the points alone: F(4x4, 3x3)'s is F(2x2, 5x5)'s.
template <>
struct Transform<4, 3> {
  static constexpr int m = 4, r = 3, a = 6;
  static constexpr const float (&BT)[6][6] = Transform<2, 5>::BT;
  static constexpr float G[6][3] = {{1, 0, 0},
                                    {-1.f / 3, -1.f / 3, -1.f / 3},
                                    {1.f / 3, -1.f / 3, 1.f / 3},
                                    {1.f / 15, 2.f / 15, 4.f / 15},
                                    {-16.f / 15, 8.f / 15, -4.f / 15},
                                    {0, 0, 1}};
  static constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0},
                                     {0, 1, -1, 2, -0.5f, 0},
                                     {0, 1, 1, 4, 0.25f, 0},
                                     {0, 1, -1, 8, -0.125f, 1}};
};

// y[i] = sum over k of m[i][k] x[k] (m[k][i] when Transposed), for Rows x Cols constant entries:
// unrolled, zeros skipped, ones added or subtracted, the rest multiply-added; the sum starts from
// the first entry 1 (x2 - x1 rather than 0 - x1 + x2), then takes k in order.
template <int Rows, int Cols, bool Transposed = false, typename Matrix>
CONVLAB_WINO_INLINE void apply(const Matrix& m, const __m512* x, __m512* y) {
#pragma GCC unroll 8
  for (int i = 0; i < Rows; ++i) {
    const auto at = [&](int k) {
      if constexpr (Transposed)
        return m[k][i];
      else
        return m[i][k];
    };
    int first = -1;
#pragma GCC unroll 8
    for (int k = Cols - 1; k >= 0; --k)
      if (at(k) == 1.0f || (at(k) != 0.0f && (first < 0 || at(first) != 1.0f))) first = k;
    const float c0 = at(first);
    __m512 acc = c0 == 1.0f    ? x[first]
                 : c0 == -1.0f ? _mm512_sub_ps(_mm512_setzero_ps(), x[first])
                               : _mm512_mul_ps(_mm512_set1_ps(c0), x[first]);
#pragma GCC unroll 8
    for (int k = 0; k < Cols; ++k) {
      const float c = at(k);
      if (k == first || c == 0.0f) continue;
      acc = c == 1.0f    ? _mm512_add_ps(acc, x[k])
            : c == -1.0f ? _mm512_sub_ps(acc, x[k])
                         : _mm512_fmadd_ps(_mm512_set1_ps(c), x[k], acc);
    }
    y[i] = acc;
  }
}

// The kernel gradients of input channels [c0, c1) (at most 16) and output channels [o0, o0 + 16):
// gw[o][c] += G^T dL/dU G, where dL/dU at position xi = a * k + j is the sum of the groups' parts,
// in group order, at part[(xi * C + c) * O + o]. Vectors over 16 output channels: a column of
// dL/dU at a time, G^T then G by apply(); each kernel's R x R sums go to `local`
// ([o - o0][c - c0][R * R], by scatter) and then, one output channel at a time, onto gw's run of
// (c1 - c0) * R * R contiguous floats. (The loop of one kernel position at a time over the output
// channels, compiled for SSE, and its strided single-float additions to gw took 35 % of a 256 ->
// 256 layer's weight gradient on 4 x 4, more than its matrix products; the parts' separate
// total, filled and summed, 22 % more.)
template <typename T>
CONVLAB_WINO void kernel_gradient_block(int64_t C, int64_t O, const float* parts, int64_t groups,
                                        int64_t part_size, int64_t c0, int64_t c1, int64_t o0,
                                        float* local, float* gw) {
  constexpr int a = T::a, R = T::r, RR = R * R;
  const __mmask16 m = lanes_mask(O - o0);
  const int64_t width = (c1 - c0) * RR;  // floats of one output channel's run in gw and local
  const __m512i at_lane =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(width)));
  for (int64_t c = c0; c < c1; ++c) {
    // The next channel's a * a lines: 256 KiB apart (C = O = 256), so no hardware prefetcher
    // follows them, and they are in L3 (the parts outgrow L2).
    if (c + 1 < c1)
      for (int xi = 0; xi < a * a; ++xi)
        for (int64_t t = 0; t < groups; ++t)
          _mm_prefetch(
              reinterpret_cast<const char*>(parts + t * part_size + (xi * C + c + 1) * O + o0),
              _MM_HINT_T0);
    __m512 gu[R * a];  // (G^T dL/dU)[i][j] at gu[i * a + j]
    for (int j = 0; j < a; ++j) {
      __m512 column[a], out[R];
      for (int k = 0; k < a; ++k) {
        const float* p = parts + ((a * k + j) * C + c) * O + o0;
        __m512 v = _mm512_maskz_loadu_ps(m, p);
        for (int64_t t = 1; t < groups; ++t)
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, p + t * part_size));
        column[k] = v;
      }
      apply<R, a, true>(T::G, column, out);
      for (int i = 0; i < R; ++i) gu[i * a + j] = out[i];
    }
    float* dst = local + (c - c0) * RR;
    for (int i = 0; i < R; ++i) {  // row i of (G^T dL/dU) G
      __m512 s[R];
      apply<R, a, true>(T::G, gu + i * a, s);
      for (int j = 0; j < R; ++j) _mm512_mask_i32scatter_ps(dst + i * R + j, m, at_lane, s[j], 4);
    }
  }
  for (int64_t lane = 0; lane < std::min<int64_t>(16, O - o0); ++lane) {
    float* g = gw + ((o0 + lane) * C + c0) * RR;
    const float* l = local + lane * width;
    for (int64_t i = 0; i < width; i += 16) {
      const __mmask16 k = lanes_mask(width - i);
      _mm512_mask_storeu_ps(
          g + i, k,
          _mm512_add_ps(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, l + i)));
    }
  }
}

// gw[o][c] += G^T dL/dU G for every (o, c) of C x O kernels, dL/dU the sum in order of `groups`
// parts of part_size floats, position xi's at part[(xi * C + c) * O + o]. Input channels in tasks
// of 16, which write disjoint kernels: the same bits at any thread count.
template <typename T>
void add_kernel_gradient(int64_t C, int64_t O, const float* parts, int64_t groups,
                         int64_t part_size, float* gw) {
  constexpr int64_t kPerTask = 16;
  parallel_for((C + kPerTask - 1) / kPerTask, [&](int64_t task) {
    const int64_t c0 = task * kPerTask, c1 = std::min(C, c0 + kPerTask);
    float* local = scratch(0, static_cast<size_t>(16 * kPerTask * T::r * T::r));
    for (int64_t o0 = 0; o0 < O; o0 += 16)
      kernel_gradient_block<T>(C, O, parts, groups, part_size, c0, c1, o0, local, gw);
  });
}

}  // namespace convlab::kernels
