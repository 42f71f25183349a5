// GCC vector types and the few operations the hand-vectorised kernels share. Every function is
// always inlined, so it is compiled for the target (AVX-512, AVX2 or baseline) of the kernel that
// calls it; a kernel picks its vector width VL (16, 8 or 4 floats) to match.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

// Vectors are passed by value only between always-inlined functions of one target, so GCC's note
// about the ABI of vector arguments without that target does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#define CONVLAB_INLINE inline __attribute__((always_inline))
// The same for a lambda inside a kernel: at -O0 GCC inlines only always_inline functions, and an
// AVX-512 operand (shifted16's asm) is impossible in a lambda compiled on its own, without the
// kernel's target.
#define CONVLAB_LAMBDA_INLINE __attribute__((always_inline))

namespace convlab::kernels::simd {

// GCC vector types of VL floats (an alias template cannot carry vector_size itself).
template <int VL>
struct VecOf;
template <>
struct VecOf<1> {
  typedef float type __attribute__((vector_size(4)));
};
template <>
struct VecOf<2> {
  typedef float type __attribute__((vector_size(8)));
};
template <>
struct VecOf<4> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct VecOf<8> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct VecOf<16> {
  typedef float type __attribute__((vector_size(64)));
};
template <int VL>
using vec = typename VecOf<VL>::type;

template <int VL>
CONVLAB_INLINE vec<VL> load(const float* p) {
  vec<VL> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <int VL>
CONVLAB_INLINE void store(float* p, vec<VL> v, int64_t lanes) {
  if (lanes >= VL)
    std::memcpy(p, &v, sizeof v);
  else if (lanes > 0)
    std::memcpy(p, &v, static_cast<size_t>(lanes) * sizeof(float));
}

// Sum of the lanes as a fixed tree: lane i + lane i + VL/2, then + VL/4, ... (in registers).
template <int VL>
CONVLAB_INLINE float lane_sum(vec<VL> v) {
  if constexpr (VL == 16) {
    typedef int ivec __attribute__((vector_size(64)));
    v += __builtin_shuffle(v, ivec{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
    v += __builtin_shuffle(v, ivec{4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3});
    v += __builtin_shuffle(v, ivec{2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
    v += __builtin_shuffle(v, ivec{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});
  } else if constexpr (VL == 8) {
    typedef int ivec __attribute__((vector_size(32)));
    v += __builtin_shuffle(v, ivec{4, 5, 6, 7, 0, 1, 2, 3});
    v += __builtin_shuffle(v, ivec{2, 3, 0, 1, 2, 3, 0, 1});
    v += __builtin_shuffle(v, ivec{1, 0, 1, 0, 1, 0, 1, 0});
  } else {
    static_assert(VL == 4, "vector widths are 4, 8 or 16 floats");
    typedef int ivec __attribute__((vector_size(16)));
    v += __builtin_shuffle(v, ivec{2, 3, 0, 1});
    v += __builtin_shuffle(v, ivec{1, 0, 1, 0});
  }
  float s;
  std::memcpy(&s, &v, sizeof s);
  return s;
}

// Lanes `lo` of (x, y) plus lanes `hi` (indices VL.. are y's). GCC's two-vector shuffle, as
// lane_sum's: a template, so that clang (the fuzz build, which leaves the kernels that use these
// out) does not look the builtin up.
template <typename V, typename I>
CONVLAB_INLINE V fold_lanes(V x, V y, I lo, I hi) {
  return __builtin_shuffle(x, y, lo) + __builtin_shuffle(x, y, hi);
}

// out[k] = lane_sum<VL>(a[k]) for k < N, the same bits. With 16 lanes, sixteen vectors at a time
// are folded together, each step adding the same lane pairs lane_sum adds (halves, then quarters,
// ...), two vectors' halves per instruction: 15 additions and 30 shuffles for sixteen sums instead
// of 64 and 64. The sums come out in bit-reversed lane order.
template <int VL, int N>
CONVLAB_INLINE void lane_sums(const vec<VL>* a, float* out) {
  if constexpr (VL != 16) {
#pragma GCC unroll 32
    for (int k = 0; k < N; ++k) out[k] = lane_sum<VL>(a[k]);
  } else {
    typedef int ivec __attribute__((vector_size(64)));
    const auto fold = [](vec<VL> x, vec<VL> y, ivec lo, ivec hi) {
      return fold_lanes(x, y, lo, hi);
    };
    constexpr ivec lo1{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    constexpr ivec hi1{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
    constexpr ivec lo2{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27};
    constexpr ivec hi2{4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31};
    constexpr ivec lo3{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29};
    constexpr ivec hi3{2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31};
    constexpr ivec lo4{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
    constexpr ivec hi4{1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
#pragma GCC unroll 4
    for (int k0 = 0; k0 < N; k0 += 16) {
      vec<16> v[16];
#pragma GCC unroll 16
      for (int k = 0; k < 16; ++k) v[k] = k0 + k < N ? a[k0 + k] : vec<16>{};
#pragma GCC unroll 8
      for (int m = 0; m < 8; ++m) v[m] = fold(v[2 * m], v[2 * m + 1], lo1, hi1);
#pragma GCC unroll 4
      for (int m = 0; m < 4; ++m) v[m] = fold(v[2 * m], v[2 * m + 1], lo2, hi2);
#pragma GCC unroll 2
      for (int m = 0; m < 2; ++m) v[m] = fold(v[2 * m], v[2 * m + 1], lo3, hi3);
      const vec<16> r = fold(v[0], v[1], lo4, hi4);
#pragma GCC unroll 16
      for (int lane = 0; lane < 16; ++lane) {
        const int k = ((lane & 1) << 3) | ((lane & 2) << 1) | ((lane & 4) >> 1) | ((lane & 8) >> 3);
        if (k0 + k < N) out[k0 + k] = r[lane];
      }
    }
  }
}

// Lanes j .. j + VL - 1 of the concatenation (a, b), for 0 <= j < VL (one valignd with AVX-512).
template <int VL>
CONVLAB_INLINE vec<VL> shifted(vec<VL> a, vec<VL> b, int j) {
  if constexpr (VL == 16) {
    typedef int ivec __attribute__((vector_size(64)));
    const ivec iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return __builtin_shuffle(a, b, iota + j);
  } else if constexpr (VL == 8) {
    typedef int ivec __attribute__((vector_size(32)));
    const ivec iota = {0, 1, 2, 3, 4, 5, 6, 7};
    return __builtin_shuffle(a, b, iota + j);
  } else {
    typedef int ivec __attribute__((vector_size(16)));
    const ivec iota = {0, 1, 2, 3};
    return __builtin_shuffle(a, b, iota + j);
  }
}

// shifted(a, b, J) for 16-float vectors with J known at compile time: one valignd. GCC 12 makes
// the generic shuffle a vpermt2ps whose index vector takes a register for each J (a 5x5 kernel's
// four spilled its accumulators, 0.26 -> 0.36 ms on LeNet's first layer), and the intrinsic is
// not allowed in code without the AVX-512 target; only AVX-512 kernels instantiate this. Clang
// checks the asm's operands in every file that includes this one and rejects a 64-byte one
// without AVX-512; its build (fuzz/) leaves the kernels that use this out.
template <int J>
CONVLAB_INLINE vec<16> shifted16(vec<16> a, vec<16> b) {
  static_assert(J > 0 && J < 16);
#if defined(__x86_64__) && !defined(__clang__)
  vec<16> r;
  asm("valignd %3, %1, %2, %0" : "=v"(r) : "v"(a), "v"(b), "n"(J));
  return r;
#else
  return shifted<16>(a, b, J);
#endif
}

// shifted(a, b, J) with J a constant: a itself, one valignd with AVX-512, else the shuffle.
template <int VL, int J>
CONVLAB_INLINE vec<VL> shifted_by(vec<VL> a, vec<VL> b) {
  if constexpr (J == 0)
    return a;
  else if constexpr (VL == 16)
    return shifted16<J>(a, b);
  else
    return shifted<VL>(a, b, J);
}

// Makes the compiler hold v in a register: without it GCC re-reads a vector used KW times from
// memory in each of its fused multiply-adds, and the loads, not the arithmetic, set the pace.
template <typename V>
CONVLAB_INLINE void in_register(V& v) {
#if defined(__x86_64__)
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

}  // namespace convlab::kernels::simd

namespace convlab::kernels {

// The first n of an AVX-512 vector's 16 lanes as a mask: none for n <= 0, all from 16 on (tiles,
// channels, windows or columns past the end of a row).
inline __attribute__((target("avx512f"))) __mmask16 lanes_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>(n <= 0 ? 0 : (1u << n) - 1);
}

}  // namespace convlab::kernels
