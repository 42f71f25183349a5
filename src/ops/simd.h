// GCC vector types and the few operations the hand-vectorised kernels share. Every function is
// always inlined, so it is compiled for the target (AVX-512, AVX2 or baseline) of the kernel that
// calls it; a kernel picks its vector width VL (16, 8 or 4 floats) to match.
#pragma once

#include <cstdint>
#include <cstring>

// Vectors are passed by value only between always-inlined functions of one target, so GCC's note
// about the ABI of vector arguments without that target does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#define CONVLAB_INLINE inline __attribute__((always_inline))

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
