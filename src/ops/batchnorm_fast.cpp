// Batch normalisation kernels: the reference's double-precision arithmetic, vectorised and split
// across threads by channel (statistics, backward) or by plane (normalisation).
//
// Sums over a channel's N*L elements run in kLanes double accumulators: element l of each plane
// goes to lane l mod kLanes, planes in order n = 0..N-1, the lanes then added in one fixed tree.
// The order depends on nothing but (N, L), so the bits are the same at every thread count and
// every instruction set (no FMA contraction: -ffp-contract=off). The sums differ from the plain
// reference's left-to-right order only by double rounding; kernels_test holds them to it.
// Normalisation is the reference's formula exactly; the input gradient divides the two sums by the
// count once rather than per element.
//
// A ReLU right after the BatchNorm can be fused in (Sequential does so): the forward writes
// relu(y), and the backward masks the incoming gradient by relu(y) > 0 as ReLU's backward would.
#include <algorithm>
#include <cstring>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "simd.h"

namespace convlab::kernels {

namespace {

constexpr int64_t kLanes = 8;
// kLanes floats, and as many doubles: GCC vector types, one zmm of doubles with AVX-512, pairs of
// registers otherwise; the arithmetic per lane is the same everywhere.
using floats = float __attribute__((vector_size(4 * kLanes)));
using doubles = double __attribute__((vector_size(8 * kLanes)));

CONVLAB_INLINE doubles load(const float* p) {
  floats f;
  std::memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, doubles);
}

CONVLAB_INLINE void store(float* p, doubles d) {
  const floats f = __builtin_convertvector(d, floats);
  std::memcpy(p, &f, sizeof f);
}

// The incoming gradient, masked by the fused ReLU's output when there is one.
template <bool kMask>
CONVLAB_INLINE doubles load_grad(const float* gy, const float* relu_out, int64_t i) {
  floats g;
  std::memcpy(&g, gy + i, sizeof g);
  if constexpr (kMask) {
    floats r;
    std::memcpy(&r, relu_out + i, sizeof r);
    g = r > 0.0f ? g : floats{};
  }
  return __builtin_convertvector(g, doubles);
}

template <bool kMask>
CONVLAB_INLINE double grad_at(const float* gy, const float* relu_out, int64_t i) {
  const float g = gy[i];
  if constexpr (kMask) return relu_out[i] > 0.0f ? static_cast<double>(g) : 0.0;
  return static_cast<double>(g);
}

CONVLAB_INLINE double lane_total(doubles a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

// Per-channel sums: sum of x, or of (x - m)^2 (kSquares).
template <bool kSquares>
CONVLAB_INLINE double channel_sum(int64_t N, int64_t C, int64_t L, const float* x, int64_t c,
                                  double m) {
  doubles acc = {};
  for (int64_t n = 0; n < N; ++n) {
    const float* p = x + (n * C + c) * L;
    const int64_t next = n + 1 < N ? C * L : 0;  // the channel's next plane, fetched ahead
    int64_t l = 0;
    for (; l + kLanes <= L; l += kLanes) {
      if ((l & 15) == 0) __builtin_prefetch(p + next + l);
      const doubles v = load(p + l);
      if constexpr (kSquares)
        acc += (v - m) * (v - m);
      else
        acc += v;
    }
    for (int64_t k = 0; l + k < L; ++k) {
      const double v = static_cast<double>(p[l + k]);
      acc[k] += kSquares ? (v - m) * (v - m) : v;
    }
  }
  return lane_total(acc);
}

CONVLAB_INLINE void statistics_channel(int64_t N, int64_t C, int64_t L, const float* x, int64_t c,
                                       double* mean, double* var) {
  const double count = static_cast<double>(N * L);
  const double m = channel_sum<false>(N, C, L, x, c, 0.0) / count;
  mean[c] = m;
  var[c] = channel_sum<true>(N, C, L, x, c, m) / count;
}

CONVLAB_INLINE void normalize_plane(int64_t C, int64_t L, const float* x, const double* mean,
                                    const double* invstd, const float* gamma, const float* beta,
                                    bool relu, int64_t plane, float* y) {
  const int64_t c = plane % C;
  const double scale = invstd[c] * (gamma ? static_cast<double>(gamma[c]) : 1.0);
  const double shift = beta ? static_cast<double>(beta[c]) : 0.0, m = mean[c];
  const float* src = x + plane * L;
  float* dst = y + plane * L;
  int64_t l = 0;
  for (; l + kLanes <= L; l += kLanes) {
    floats v = __builtin_convertvector((load(src + l) - m) * scale + shift, floats);
    if (relu) v = v > 0.0f ? v : floats{};
    std::memcpy(dst + l, &v, sizeof v);
  }
  for (; l < L; ++l) {
    const float v = static_cast<float>((static_cast<double>(src[l]) - m) * scale + shift);
    dst[l] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

// One channel's parameter gradients and input gradient.
template <bool kMask>
CONVLAB_INLINE void backward_channel(int64_t N, int64_t C, int64_t L, const float* x,
                                     const double* mean, const double* invstd, const float* gamma,
                                     const float* gy, const float* relu_out, bool batch_stats,
                                     int64_t c, float* gx, float* ggamma, float* gbeta) {
  const double m = mean[c], is = invstd[c];
  doubles sg = {}, sgx = {};
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * L;
    int64_t l = 0;
    const int64_t next = n + 1 < N ? C * L : 0;  // the channel's next plane, fetched ahead
    for (; l + kLanes <= L; l += kLanes) {
      if ((l & 15) == 0) {
        __builtin_prefetch(x + base + next + l);
        __builtin_prefetch(gy + base + next + l);
        if constexpr (kMask) __builtin_prefetch(relu_out + base + next + l);
      }
      const doubles g = load_grad<kMask>(gy, relu_out, base + l);
      sg += g;
      sgx += g * ((load(x + base + l) - m) * is);
    }
    for (int64_t k = 0; l + k < L; ++k) {
      const double g = grad_at<kMask>(gy, relu_out, base + l + k);
      sg[k] += g;
      sgx[k] += g * ((static_cast<double>(x[base + l + k]) - m) * is);
    }
  }
  const double sum_gy = lane_total(sg), sum_gy_xhat = lane_total(sgx);
  if (ggamma) ggamma[c] += static_cast<float>(sum_gy_xhat);
  if (gbeta) gbeta[c] += static_cast<float>(sum_gy);
  if (!gx) return;
  // gx = (gy - (mean(gy) + xhat * mean(gy * xhat))) * gamma * invstd with batch statistics (the
  // reference divides each term by the count; the same value up to one rounding), gy * gamma *
  // invstd with running ones.
  const double count = static_cast<double>(N * L);
  const double mg = batch_stats ? sum_gy / count : 0.0,
               mgx = batch_stats ? sum_gy_xhat / count : 0.0;
  const double k = (gamma ? static_cast<double>(gamma[c]) : 1.0) * is;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * L;
    int64_t l = 0;
    for (; l + kLanes <= L; l += kLanes) {
      const doubles xhat = (load(x + base + l) - m) * is;
      store(gx + base + l, (load_grad<kMask>(gy, relu_out, base + l) - (mg + xhat * mgx)) * k);
    }
    for (; l < L; ++l) {
      const double xhat = (static_cast<double>(x[base + l]) - m) * is;
      gx[base + l] =
          static_cast<float>((grad_at<kMask>(gy, relu_out, base + l) - (mg + xhat * mgx)) * k);
    }
  }
}

CONVLAB_INLINE void backward_any(int64_t N, int64_t C, int64_t L, const float* x,
                                 const double* mean, const double* invstd, const float* gamma,
                                 const float* gy, const float* relu_out, bool batch_stats,
                                 int64_t c, float* gx, float* ggamma, float* gbeta) {
  if (relu_out)
    backward_channel<true>(N, C, L, x, mean, invstd, gamma, gy, relu_out, batch_stats, c, gx,
                           ggamma, gbeta);
  else
    backward_channel<false>(N, C, L, x, mean, invstd, gamma, gy, relu_out, batch_stats, c, gx,
                            ggamma, gbeta);
}

struct BatchNormKernels {
  void (*statistics)(int64_t, int64_t, int64_t, const float*, int64_t, double*, double*);
  void (*normalize)(int64_t, int64_t, const float*, const double*, const double*, const float*,
                    const float*, bool, int64_t, float*);
  void (*backward)(int64_t, int64_t, int64_t, const float*, const double*, const double*,
                   const float*, const float*, const float*, bool, int64_t, float*, float*, float*);
};

#define BN_ENTRIES(NAME, TARGET)                                                                 \
  TARGET __attribute__((flatten)) void statistics_##NAME(                                        \
      int64_t N, int64_t C, int64_t L, const float* x, int64_t c, double* m, double* v) {        \
    statistics_channel(N, C, L, x, c, m, v);                                                     \
  }                                                                                              \
  TARGET __attribute__((flatten)) void normalize_##NAME(                                         \
      int64_t C, int64_t L, const float* x, const double* m, const double* is, const float* g,   \
      const float* b, bool relu, int64_t plane, float* y) {                                      \
    normalize_plane(C, L, x, m, is, g, b, relu, plane, y);                                       \
  }                                                                                              \
  TARGET __attribute__((flatten)) void backward_##NAME(                                          \
      int64_t N, int64_t C, int64_t L, const float* x, const double* m, const double* is,        \
      const float* g, const float* gy, const float* r, bool bs, int64_t c, float* gx, float* gg, \
      float* gb) {                                                                               \
    backward_any(N, C, L, x, m, is, g, gy, r, bs, c, gx, gg, gb);                                \
  }                                                                                              \
  constexpr BatchNormKernels NAME##_bn{statistics_##NAME, normalize_##NAME, backward_##NAME};

BN_ENTRIES(avx512, __attribute__((target("arch=x86-64-v4"))))
BN_ENTRIES(avx2, __attribute__((target("arch=x86-64-v3"))))
BN_ENTRIES(generic, )

const BatchNormKernels& bn_kernels() {
  switch (active_isa()) {
    case Isa::avx512:
      return avx512_bn;
    case Isa::avx2:
      return avx2_bn;
    default:
      return generic_bn;
  }
}

}  // namespace

void batch_norm_statistics(int64_t N, int64_t C, int64_t L, const float* x, double* mean,
                           double* var) {
  const auto& k = bn_kernels();
  parallel_for(C, [&](int64_t c) { k.statistics(N, C, L, x, c, mean, var); });
}

void batch_norm_normalize(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                          const double* invstd, const float* gamma, const float* beta, bool relu,
                          float* y) {
  const auto& k = bn_kernels();
  parallel_for_items(
      N * C, L, [&](int64_t p) { k.normalize(C, L, x, mean, invstd, gamma, beta, relu, p, y); });
}

void batch_norm_backward(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                         const double* invstd, const float* gamma, const float* gy,
                         const float* relu_out, bool batch_stats, float* gx, float* ggamma,
                         float* gbeta) {
  const auto& k = bn_kernels();
  parallel_for(C, [&](int64_t c) {
    k.backward(N, C, L, x, mean, invstd, gamma, gy, relu_out, batch_stats, c, gx, ggamma, gbeta);
  });
}

}  // namespace convlab::kernels
