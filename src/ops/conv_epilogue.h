// What a convolution kernel can apply to its output while it is in cache, before turning it from
// pixel-major to NCHW: an evaluation-mode BatchNorm and a ReLU, with the separate layers' own
// formulas, so the bits equal theirs. Shared by the channel-lane kernels (conv2d_lanes.cpp) and
// Winograd F(4x4, 3x3) (conv2d_winograd3x3.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace convlab::kernels {

// GCC 12's AVX-512 headers leave a placeholder operand undefined in _mm512_cvtps_pd and warn about
// it once inlined (a false positive, GCC bug 105593).
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The BatchNorm formula on 16 floats: float((double(z) - mean) * scale + shift), each operation
// rounded in double; mean, scale and shift for lanes 0-7 in [0], 8-15 in [1].
__attribute__((target("avx512f"), always_inline)) inline __m512 batch_norm_lanes(
    __m512 z, const __m512d* mean, const __m512d* scale, const __m512d* shift) {
  __m512d half[2] = {
      _mm512_cvtps_pd(_mm512_castps512_ps256(z)),
      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1)))};
  for (int h = 0; h < 2; ++h)
    half[h] = _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(half[h], mean[h]), scale[h]), shift[h]);
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(half[0]))),
                         _mm256_castps_pd(_mm512_cvtpd_ps(half[1])), 1));
}
#pragma GCC diagnostic pop

// On `pixels` rows of O channels, ld floats apart: z = float((double(z) - mean[o]) * scale[o] +
// shift[o]) rounded once per operation when bn is given (mean, scale and shift, bn_ld doubles
// apart), then max(z, 0) when relu (ReLU's results for NaN, 0, and -0, +0). AVX-512; lanes past O
// are left alone.
void conv_epilogue(int64_t pixels, int64_t O, const double* bn, int64_t bn_ld, bool relu,
                   float* rows, int64_t ld);

}  // namespace convlab::kernels
