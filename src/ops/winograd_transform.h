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

namespace convlab::kernels {

#define CONVLAB_WINO __attribute__((target("avx512f")))
#define CONVLAB_WINO_INLINE __attribute__((target("avx512f"), always_inline)) inline

// The first n of a vector's 16 lanes (all of them from 16 on): tiles or channels past the end.
CONVLAB_WINO inline __mmask16 lanes_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

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

// gw[o][c] += G^T dL/dU G for every (o, c) of C x O kernels, dL/dU at position xi being
// total[(xi * C + c) * O + o]. The output channels run innermost, contiguous in `total`, so the
// compiler vectorises over them; each kernel's sums are the same products added in the same order
// as one kernel at a time (a scalar loop over the kernels took 3 % of small7's training). Input
// channels in tasks of 16, which write disjoint kernels: the same bits at any thread count (run
// on one thread it took a seventh of a 256 -> 256 layer's backward pass on 4 x 4 at 2 threads).
template <typename T>
void add_kernel_gradient(int64_t C, int64_t O, const float* total, float* gw) {
  constexpr int a = T::a, R = T::r;
  constexpr int64_t kPerTask = 16;
  parallel_for((C + kPerTask - 1) / kPerTask, [&](int64_t task) {
    float* gu = scratch(0, static_cast<size_t>((R * a + 1) * O));  // and s, the last O
    float* s = gu + R * a * O;
    for (int64_t c = task * kPerTask; c < std::min(C, (task + 1) * kPerTask); ++c) {
      for (int j = 0; j < a; ++j)  // gu[i][j] = (G^T dL/dU)[i][j], over o
        for (int i = 0; i < R; ++i) {
          float* g = gu + (i * a + j) * O;
          std::fill(g, g + O, 0.0f);
          for (int k = 0; k < a; ++k) {
            const float f = T::G[k][i];
            const float* t = total + ((a * k + j) * C + c) * O;
            for (int64_t o = 0; o < O; ++o) g[o] += f * t[o];
          }
        }
      for (int i = 0; i < R; ++i)  // (G^T dL/dU) G
        for (int j = 0; j < R; ++j) {
          std::fill(s, s + O, 0.0f);
          for (int k = 0; k < a; ++k) {
            const float f = T::G[k][j];
            const float* g = gu + (i * a + k) * O;
            for (int64_t o = 0; o < O; ++o) s[o] += g[o] * f;
          }
          for (int64_t o = 0; o < O; ++o) gw[(o * C + c) * R * R + R * i + j] += s[o];
        }
    }
  });
}

}  // namespace convlab::kernels
