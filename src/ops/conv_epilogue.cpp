#include "conv_epilogue.h"

#include <immintrin.h>

// GCC 12's AVX-512 headers leave a placeholder operand undefined in some intrinsics
// (_mm512_max_ps, _mm512_cvtps_pd, ...) and then warn about it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

__attribute__((target("avx512f"))) void conv_epilogue(int64_t pixels, int64_t O, const double* bn,
                                                      int64_t bn_ld, bool relu, float* rows,
                                                      int64_t ld) {
  // Channels outermost: a group of 16 channels' mean, scale and shift stay in registers across
  // the pixels (loading them per pixel cost as much as the arithmetic).
  for (int64_t o = 0; o < O; o += 16) {
    const int64_t lanes = O - o < 16 ? O - o : 16;
    const __mmask16 m = static_cast<__mmask16>((uint32_t{1} << lanes) - 1);
    __m512d mean[2], scale[2], shift[2];
    if (bn)
      for (int h = 0; h < 2; ++h) {
        const int64_t c = o + 8 * h;
        const __mmask8 mh = static_cast<__mmask8>(m >> (8 * h));
        mean[h] = _mm512_maskz_loadu_pd(mh, bn + c);
        scale[h] = _mm512_maskz_loadu_pd(mh, bn + bn_ld + c);
        shift[h] = _mm512_maskz_loadu_pd(mh, bn + 2 * bn_ld + c);
      }
    for (int64_t p = 0; p < pixels; ++p) {
      float* r = rows + p * ld + o;
      __m512 z = _mm512_maskz_loadu_ps(m, r);
      if (bn) z = batch_norm_lanes(z, mean, scale, shift);
      if (relu) z = _mm512_max_ps(z, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(r, m, z);
    }
  }
}

}  // namespace convlab::kernels
