// 2x2 stride-2 max pooling, row by row: the one place the window rule lives, for MaxPool2d(2)'s
// own kernels and for the pooling fused into a convolution.
//
// The rule is the reference's: in window order (0 1 / 2 3) the first strict maximum wins and a NaN
// wins over everything (the first NaN, since it ends the search). With AVX-512 (VL = 16) sixteen
// windows are done at once (a row's last ones masked): the two input rows are split into even and
// odd columns by shuffles; other widths use the scalar loop, which gives the same results.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "simd.h"

// GCC 12's own AVX-512 headers leave a placeholder operand undefined in some intrinsics
// (_mm512_cvtepu8_epi32, ...) and then warn about it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels::pool2x2 {

using namespace simd;

// Window position of the maximum of (a b / c d), written with selects so that it never branches.
CONVLAB_INLINE int pick(float a, float b, float c, float d) {
  float best = a;
  int k = 0;
  bool done = a != a;
  const float v[3] = {b, c, d};
  for (int i = 0; i < 3; ++i) {
    const bool take = !done && (v[i] > best || v[i] != v[i]);
    best = take ? v[i] : best;
    k = take ? i + 1 : k;
    done = best != best;
  }
  return k;
}

CONVLAB_INLINE float relu(float v) {
  return v > 0.0f ? v : 0.0f;
}  // NaN becomes 0, as ReLU's

// The AVX-512 path is written with intrinsics: GCC 12 turns the same selects on generic vectors
// into one compare per lane. Callers reach it only from AVX-512 code (VL == 16).
#define CONVLAB_AVX512_INLINE \
  inline __attribute__((always_inline, target("avx512f,avx512bw,avx512dq,avx512vl")))

// Masks for n <= 16 windows: their 2n input columns (two vectors: lo, hi) and the n windows. A row
// narrower than 16 windows (LeNet-5's 28 -> 14) or its last windows run as one masked group rather
// than the scalar loop (which took four fifths of LeNet-5's fused first layer).
struct Lanes {
  __mmask16 lo, hi, out;
};
CONVLAB_AVX512_INLINE Lanes lanes(int64_t n) {
  return {lanes_mask(2 * n), lanes_mask(2 * n - 16), lanes_mask(n)};
}
constexpr Lanes kAll{0xFFFF, 0xFFFF, 0xFFFF};

// The four window positions of 16 windows from rows r0, r1 (32 columns each, those of `l`),
// optionally after a ReLU, then the maximum and its position per window.
template <bool kRelu>
CONVLAB_AVX512_INLINE void windows16(const float* r0, const float* r1, Lanes l, __m512& best,
                                     __m512i& k) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 p0 = _mm512_maskz_loadu_ps(l.lo, r0), p1 = _mm512_maskz_loadu_ps(l.hi, r0 + 16);
  const __m512 q0 = _mm512_maskz_loadu_ps(l.lo, r1), q1 = _mm512_maskz_loadu_ps(l.hi, r1 + 16);
  __m512 w[4] = {_mm512_permutex2var_ps(p0, even, p1), _mm512_permutex2var_ps(p0, odd, p1),
                 _mm512_permutex2var_ps(q0, even, q1), _mm512_permutex2var_ps(q0, odd, q1)};
  if constexpr (kRelu)  // NaN and negatives become 0: "greater than 0" is false for both
    for (auto& v : w)
      v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
  best = w[0];
  k = _mm512_setzero_si512();
  __mmask16 done = _mm512_cmp_ps_mask(best, best, _CMP_UNORD_Q);
  for (int i = 1; i < 4; ++i) {
    const __mmask16 take =
        static_cast<__mmask16>(~done & (_mm512_cmp_ps_mask(w[i], best, _CMP_GT_OQ) |
                                        _mm512_cmp_ps_mask(w[i], w[i], _CMP_UNORD_Q)));
    best = _mm512_mask_mov_ps(best, take, w[i]);
    k = _mm512_mask_mov_epi32(k, take, _mm512_set1_epi32(i));
    done = _mm512_cmp_ps_mask(best, best, _CMP_UNORD_Q);
  }
}

// Writes g[x] at window position k of window x in input rows g0, g1 and zero at the other three
// (the columns of `l`).
CONVLAB_AVX512_INLINE void scatter16(__m512 g, __m512i k, Lanes l, float* g0, float* g1) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  __m512 v[4];
  for (int i = 0; i < 4; ++i)
    v[i] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(i)), g);
  _mm512_mask_storeu_ps(g0, l.lo, _mm512_permutex2var_ps(v[0], lo, v[1]));
  _mm512_mask_storeu_ps(g0 + 16, l.hi, _mm512_permutex2var_ps(v[0], hi, v[1]));
  _mm512_mask_storeu_ps(g1, l.lo, _mm512_permutex2var_ps(v[2], lo, v[3]));
  _mm512_mask_storeu_ps(g1 + 16, l.hi, _mm512_permutex2var_ps(v[2], hi, v[3]));
}

// The rows' AVX-512 parts: whole groups of 16 windows, then the rest as one masked group. They
// are ordinary (not forced-inline) functions, so that code compiled for any target can call them;
// only AVX-512 code does.
#define CONVLAB_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

template <bool kRelu>
inline CONVLAB_AVX512 void forward_row16(const float* r0, const float* r1, int64_t OW, float* out,
                                         uint8_t* arg) {
  for (int64_t x = 0; x < OW; x += 16) {
    const Lanes l = x + 16 <= OW ? kAll : lanes(OW - x);
    __m512 best;
    __m512i k;
    windows16<kRelu>(r0 + 2 * x, r1 + 2 * x, l, best, k);
    _mm512_mask_storeu_ps(out + x, l.out, best);
    if (arg) _mm_mask_storeu_epi8(arg + x, l.out, _mm512_cvtepi32_epi8(k));
  }
}

inline CONVLAB_AVX512 void backward_row16(const float* r0, const float* r1, const float* go,
                                          int64_t OW, float* g0, float* g1) {
  for (int64_t x = 0; x < OW; x += 16) {
    const Lanes l = x + 16 <= OW ? kAll : lanes(OW - x);
    __m512 best;
    __m512i k;
    windows16<false>(r0 + 2 * x, r1 + 2 * x, l, best, k);
    scatter16(_mm512_maskz_loadu_ps(l.out, go + x), k, l, g0 + 2 * x, g1 + 2 * x);
  }
}

inline CONVLAB_AVX512 void relu_backward_row16(const float* out, const uint8_t* arg,
                                               const float* go, int64_t OW, float* g0, float* g1) {
  for (int64_t x = 0; x < OW; x += 16) {
    const Lanes l = x + 16 <= OW ? kAll : lanes(OW - x);
    const __m512i k = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(l.out, arg + x));
    const __mmask16 pass =
        _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(l.out, out + x), _mm512_setzero_ps(), _CMP_GT_OQ);
    scatter16(_mm512_maskz_mov_ps(pass, _mm512_maskz_loadu_ps(l.out, go + x)), k, l, g0 + 2 * x,
              g1 + 2 * x);
  }
}

// One output row: out[x] (and arg[x] unless null) for x < OW from input rows r0, r1.
template <int VL, bool kRelu>
CONVLAB_INLINE void forward_row(const float* r0, const float* r1, int64_t OW, float* out,
                                uint8_t* arg) {
  if constexpr (VL == 16) return forward_row16<kRelu>(r0, r1, OW, out, arg);
  for (int64_t x = 0; x < OW; ++x) {
    float v[4] = {r0[2 * x], r0[2 * x + 1], r1[2 * x], r1[2 * x + 1]};
    if constexpr (kRelu)
      for (auto& e : v) e = relu(e);
    const int k = pick(v[0], v[1], v[2], v[3]);
    out[x] = v[k];
    if (arg) arg[x] = static_cast<uint8_t>(k);
  }
}

CONVLAB_INLINE void scatter1(float g, int k, float* g0, float* g1) {
  g0[0] = k == 0 ? g : 0.0f;
  g0[1] = k == 1 ? g : 0.0f;
  g1[0] = k == 2 ? g : 0.0f;
  g1[1] = k == 3 ? g : 0.0f;
}

// Backward of MaxPool2d(2) for one output row, the window positions found again from the input
// rows r0, r1: writes all 2 * OW columns of the input-gradient rows g0, g1.
template <int VL>
CONVLAB_INLINE void backward_row(const float* r0, const float* r1, const float* go, int64_t OW,
                                 float* g0, float* g1) {
  if constexpr (VL == 16) return backward_row16(r0, r1, go, OW, g0, g1);
  for (int64_t x = 0; x < OW; ++x)
    scatter1(go[x], pick(r0[2 * x], r0[2 * x + 1], r1[2 * x], r1[2 * x + 1]), g0 + 2 * x,
             g1 + 2 * x);
}

// Backward of ReLU then MaxPool2d(2) for one output row, from the kept window positions `arg` and
// the pooled output `out`: the pooled value is the ReLU of the winner, so it is positive exactly
// where the ReLU passes the gradient.
template <int VL>
CONVLAB_INLINE void relu_backward_row(const float* out, const uint8_t* arg, const float* go,
                                      int64_t OW, float* g0, float* g1) {
  if constexpr (VL == 16) return relu_backward_row16(out, arg, go, OW, g0, g1);
  for (int64_t x = 0; x < OW; ++x)
    scatter1(out[x] > 0.0f ? go[x] : 0.0f, arg[x], g0 + 2 * x, g1 + 2 * x);
}

}  // namespace convlab::kernels::pool2x2
