// A 16 x 16 tile of floats turned in registers (AVX-512), shared by the memory-to-memory transpose
// (gemm.cpp) and the kernels that turn a tile and use it at once (linear_fast.cpp).
#pragma once

#include <immintrin.h>

namespace convlab::kernels {

// GCC 12's unpack intrinsics start from _mm512_undefined_ps() and warn about it (a false positive,
// GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// r[i] holds row i on entry and column i on return (lane j of r[i] = lane i of the old r[j]):
// unpack 32- and 64-bit pairs inside 128-bit lanes, then gather the lanes with two rounds of
// shuffle_f32x4; 64 shuffles.
__attribute__((target("avx512f"), always_inline)) inline void transpose16(__m512* r) {
  __m512 t[16], u[16];
  for (int k = 0; k < 16; k += 2) {
    t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 16; k += 4) {  // u[k + m]: column 4L + m of rows k..k+3 in 128-bit lane L
    const __m512d a = _mm512_castps_pd(t[k]), b = _mm512_castps_pd(t[k + 1]),
                  c = _mm512_castps_pd(t[k + 2]), d = _mm512_castps_pd(t[k + 3]);
    u[k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88),
                 v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD),
                 w0 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88),
                 w1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
    r[0 + m] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[4 + m] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    r[12 + m] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}
#pragma GCC diagnostic pop

}  // namespace convlab::kernels
