// Batch normalisation kernels: the reference's double-precision arithmetic, vectorised and split
// across threads by blocks of channels (statistics, training's forward, backward) or by plane
// (normalisation with given statistics).
//
// Sums over a channel's N*L elements run in kLanes double accumulators: element l of each plane
// goes to lane l mod kLanes, planes in order n = 0..N-1, the lanes then added in one fixed tree.
// The order depends on nothing but (N, L), so the bits are the same at every thread count and
// every instruction set (no FMA contraction: -ffp-contract=off). The sums differ from the plain
// reference's left-to-right order only by double rounding; kernels_test holds them to it.
// Normalisation is the reference's formula exactly; the input gradient divides the two sums by the
// count once rather than per element.
//
// The activations of a batch rarely fit in cache, so the kernels are written for memory traffic:
// training's forward takes the statistics and normalises a block of channels while its planes are
// in L2 (x read from memory once, not twice), and the backward pass reads x and the gradient once
// from memory (its second pass finds the block in L2) — as long as one channel's planes over the
// batch fit there (about 1 MB: 64 images of 32 x 32 do, 256 do not).
//
// A ReLU right after the BatchNorm can be fused in (Sequential does so): the forward writes
// relu(y), and the backward masks the incoming gradient where y (recomputed from x) is not
// positive, as ReLU's backward would.
#include <algorithm>
#include <cmath>
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

CONVLAB_INLINE double lane_total(doubles a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

// Channels per block. A block's planes are read image by image, so that memory is read in runs of
// the block's planes together (channel by channel, an 8 x 8 plane is a 256-byte read 16 KB past
// the last), and, where one channel's batch allows it, a block's x, gradient and output stay
// within 1 MB (half of this machine's L2) for the passes after the first. At least 4 blocks when
// there are 4 channels, for the threads. Any block gives the same bits: a channel's sums do not
// depend on it.
constexpr int64_t kMaxBlock = 64;

int64_t channel_block(int64_t N, int64_t C, int64_t L) {
  if (N * L == 0) return 1;  // nothing to read: each channel's empty sums (NaN statistics)
  constexpr int64_t kRunFloats = 1024;  // 4 KB
  constexpr int64_t kBlockBytes = int64_t{1} << 20;
  const int64_t want = (kRunFloats + L - 1) / L, fit = kBlockBytes / (12 * N * L);
  return std::clamp<int64_t>(std::min({want, fit, (C + 3) / 4}), 1, kMaxBlock);
}

// Per-channel sums over channels c0 .. c0 + cb - 1 into acc[k]: of x, or of (x - m[k])^2
// (kSquares). A channel's elements go in the order n = 0 .. N-1, l = 0 .. L-1, element l to lane
// l mod kLanes (a plane's last L mod kLanes elements to lanes 0, 1, ...), whatever the block.
template <bool kSquares>
CONVLAB_INLINE void block_sums(int64_t N, int64_t C, int64_t L, const float* x, int64_t c0,
                               int64_t cb, const double* m, doubles* acc) {
  for (int64_t k = 0; k < cb; ++k) acc[k] = doubles{};
  for (int64_t n = 0; n < N; ++n) {
    const float* run = x + (n * C + c0) * L;
    const int64_t next = n + 1 < N ? C * L : 0;  // the block's next run, fetched ahead
    for (int64_t k = 0; k < cb; ++k) {
      const float* p = run + k * L;
      const double mk = kSquares ? m[k] : 0.0;
      doubles a = acc[k];
      int64_t l = 0;
      for (; l + kLanes <= L; l += kLanes) {
        if ((l & 15) == 0) __builtin_prefetch(p + next + l);
        const doubles v = load(p + l);
        if constexpr (kSquares)
          a += (v - mk) * (v - mk);
        else
          a += v;
      }
      for (int64_t t = 0; l + t < L; ++t) {
        const double v = static_cast<double>(p[l + t]);
        a[t] += kSquares ? (v - mk) * (v - mk) : v;
      }
      acc[k] = a;
    }
  }
}

CONVLAB_INLINE void statistics_block(int64_t N, int64_t C, int64_t L, const float* x, int64_t c0,
                                     int64_t cb, double* mean, double* var) {
  const double count = static_cast<double>(N * L);
  doubles acc[kMaxBlock];
  block_sums<false>(N, C, L, x, c0, cb, nullptr, acc);
  for (int64_t k = 0; k < cb; ++k) mean[c0 + k] = lane_total(acc[k]) / count;
  block_sums<true>(N, C, L, x, c0, cb, mean + c0, acc);
  for (int64_t k = 0; k < cb; ++k) var[c0 + k] = lane_total(acc[k]) / count;
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

// Training's forward on a block of channels: statistics, invstd = 1 / sqrt(var + eps) (as
// BatchNorm computes it from batch_norm_statistics), then the block's planes normalised while
// they are in cache.
CONVLAB_INLINE void forward_batch_block(int64_t N, int64_t C, int64_t L, const float* x, double eps,
                                        const float* gamma, const float* beta, bool relu,
                                        int64_t c0, int64_t cb, double* mean, double* var,
                                        double* invstd, float* y) {
  statistics_block(N, C, L, x, c0, cb, mean, var);
  for (int64_t c = c0; c < c0 + cb; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = c0; c < c0 + cb; ++c)
      normalize_plane(C, L, x, mean, invstd, gamma, beta, relu, n * C + c, y);
}

// One channel's constants for the backward pass. With a fused ReLU the incoming gradient is masked
// where the forward's output was not positive: that output recomputed from x with
// normalize_plane's formula (the same float, one read fewer than loading it).
struct ChannelBackward {
  double m, is, scale, shift;
};

template <bool kMask>
CONVLAB_INLINE doubles masked_grad(const ChannelBackward& b, const float* gy, doubles xd) {
  floats g;
  std::memcpy(&g, gy, sizeof g);
  if constexpr (kMask) {
    const floats y = __builtin_convertvector((xd - b.m) * b.scale + b.shift, floats);
    g = y > 0.0f ? g : floats{};
  }
  return __builtin_convertvector(g, doubles);
}

template <bool kMask>
CONVLAB_INLINE double masked_grad(const ChannelBackward& b, float gy, double xd) {
  if constexpr (kMask) {
    const float y = static_cast<float>((xd - b.m) * b.scale + b.shift);
    if (!(y > 0.0f)) return 0.0;
  }
  return static_cast<double>(gy);
}

// A block of channels' parameter gradients and input gradient.
template <bool kMask>
CONVLAB_INLINE void backward_block(int64_t N, int64_t C, int64_t L, const float* x,
                                   const double* mean, const double* invstd, const float* gamma,
                                   const float* beta, const float* gy, bool batch_stats, int64_t c0,
                                   int64_t cb, float* gx, float* ggamma, float* gbeta) {
  ChannelBackward ch[kMaxBlock];
  for (int64_t k = 0; k < cb; ++k) {
    const int64_t c = c0 + k;
    const double is = invstd[c];
    ch[k] = {mean[c], is, is * (gamma ? static_cast<double>(gamma[c]) : 1.0),
             beta ? static_cast<double>(beta[c]) : 0.0};
  }
  doubles sg[kMaxBlock], sgx[kMaxBlock];
  for (int64_t k = 0; k < cb; ++k) sg[k] = sgx[k] = doubles{};
  for (int64_t n = 0; n < N; ++n) {
    const int64_t run = (n * C + c0) * L;
    const int64_t next = n + 1 < N ? C * L : 0;  // the block's next run, fetched ahead
    for (int64_t k = 0; k < cb; ++k) {
      const ChannelBackward& b = ch[k];
      const int64_t base = run + k * L;
      doubles s = sg[k], sx = sgx[k];
      int64_t l = 0;
      for (; l + kLanes <= L; l += kLanes) {
        if ((l & 15) == 0) {
          __builtin_prefetch(x + base + next + l);
          __builtin_prefetch(gy + base + next + l);
        }
        const doubles xd = load(x + base + l);
        const doubles g = masked_grad<kMask>(b, gy + base + l, xd);
        s += g;
        sx += g * ((xd - b.m) * b.is);
      }
      for (int64_t t = 0; l + t < L; ++t) {
        const double xd = static_cast<double>(x[base + l + t]);
        const double g = masked_grad<kMask>(b, gy[base + l + t], xd);
        s[t] += g;
        sx[t] += g * ((xd - b.m) * b.is);
      }
      sg[k] = s;
      sgx[k] = sx;
    }
  }
  // gx = (gy - (mean(gy) + xhat * mean(gy * xhat))) * gamma * invstd with batch statistics (the
  // reference divides each term by the count; the same value up to one rounding), gy * gamma *
  // invstd with running ones.
  const double count = static_cast<double>(N * L);
  double mg[kMaxBlock], mgx[kMaxBlock];
  for (int64_t k = 0; k < cb; ++k) {
    const double sum_gy = lane_total(sg[k]), sum_gy_xhat = lane_total(sgx[k]);
    if (ggamma) ggamma[c0 + k] += static_cast<float>(sum_gy_xhat);
    if (gbeta) gbeta[c0 + k] += static_cast<float>(sum_gy);
    mg[k] = batch_stats ? sum_gy / count : 0.0;
    mgx[k] = batch_stats ? sum_gy_xhat / count : 0.0;
  }
  if (!gx) return;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < cb; ++k) {
      const ChannelBackward& b = ch[k];
      const double mgk = mg[k], mgxk = mgx[k], kk = b.scale;
      const int64_t base = (n * C + c0 + k) * L;
      int64_t l = 0;
      for (; l + kLanes <= L; l += kLanes) {
        const doubles xd = load(x + base + l);
        const doubles xhat = (xd - b.m) * b.is;
        store(gx + base + l, (masked_grad<kMask>(b, gy + base + l, xd) - (mgk + xhat * mgxk)) * kk);
      }
      for (; l < L; ++l) {
        const double xd = static_cast<double>(x[base + l]);
        const double xhat = (xd - b.m) * b.is;
        gx[base + l] = static_cast<float>(
            (masked_grad<kMask>(b, gy[base + l], xd) - (mgk + xhat * mgxk)) * kk);
      }
    }
}

CONVLAB_INLINE void backward_any(int64_t N, int64_t C, int64_t L, const float* x,
                                 const double* mean, const double* invstd, const float* gamma,
                                 const float* beta, const float* gy, bool relu, bool batch_stats,
                                 int64_t c0, int64_t cb, float* gx, float* ggamma, float* gbeta) {
  if (relu)
    backward_block<true>(N, C, L, x, mean, invstd, gamma, beta, gy, batch_stats, c0, cb, gx, ggamma,
                         gbeta);
  else
    backward_block<false>(N, C, L, x, mean, invstd, gamma, beta, gy, batch_stats, c0, cb, gx,
                          ggamma, gbeta);
}

struct BatchNormKernels {
  void (*statistics)(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, double*, double*);
  void (*normalize)(int64_t, int64_t, const float*, const double*, const double*, const float*,
                    const float*, bool, int64_t, float*);
  void (*forward_batch)(int64_t, int64_t, int64_t, const float*, double, const float*, const float*,
                        bool, int64_t, int64_t, double*, double*, double*, float*);
  void (*backward)(int64_t, int64_t, int64_t, const float*, const double*, const double*,
                   const float*, const float*, const float*, bool, bool, int64_t, int64_t, float*,
                   float*, float*);
};

#define BN_ENTRIES(NAME, TARGET)                                                                   \
  TARGET __attribute__((flatten)) void statistics_##NAME(int64_t N, int64_t C, int64_t L,          \
                                                         const float* x, int64_t c0, int64_t cb,   \
                                                         double* m, double* v) {                   \
    statistics_block(N, C, L, x, c0, cb, m, v);                                                    \
  }                                                                                                \
  TARGET __attribute__((flatten)) void normalize_##NAME(                                           \
      int64_t C, int64_t L, const float* x, const double* m, const double* is, const float* g,     \
      const float* b, bool relu, int64_t plane, float* y) {                                        \
    normalize_plane(C, L, x, m, is, g, b, relu, plane, y);                                         \
  }                                                                                                \
  TARGET __attribute__((flatten)) void forward_batch_##NAME(                                       \
      int64_t N, int64_t C, int64_t L, const float* x, double eps, const float* g, const float* b, \
      bool relu, int64_t c0, int64_t cb, double* m, double* v, double* is, float* y) {             \
    forward_batch_block(N, C, L, x, eps, g, b, relu, c0, cb, m, v, is, y);                         \
  }                                                                                                \
  TARGET __attribute__((flatten)) void backward_##NAME(                                            \
      int64_t N, int64_t C, int64_t L, const float* x, const double* m, const double* is,          \
      const float* g, const float* b, const float* gy, bool relu, bool bs, int64_t c0, int64_t cb, \
      float* gx, float* gg, float* gb) {                                                           \
    backward_any(N, C, L, x, m, is, g, b, gy, relu, bs, c0, cb, gx, gg, gb);                       \
  }                                                                                                \
  constexpr BatchNormKernels NAME##_bn{statistics_##NAME, normalize_##NAME, forward_batch_##NAME,  \
                                       backward_##NAME};

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

// Calls f(c0, cb) for the blocks of channels, one task each.
template <typename F>
void for_blocks(int64_t N, int64_t C, int64_t L, F f) {
  const int64_t cb = channel_block(N, C, L);
  parallel_for((C + cb - 1) / cb, [&](int64_t b) { f(b * cb, std::min(cb, C - b * cb)); });
}

}  // namespace

void batch_norm_statistics(int64_t N, int64_t C, int64_t L, const float* x, double* mean,
                           double* var) {
  const auto& k = bn_kernels();
  for_blocks(N, C, L, [&](int64_t c0, int64_t cb) { k.statistics(N, C, L, x, c0, cb, mean, var); });
}

void batch_norm_normalize(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                          const double* invstd, const float* gamma, const float* beta, bool relu,
                          float* y) {
  const auto& k = bn_kernels();
  parallel_for_items(
      N * C, L, [&](int64_t p) { k.normalize(C, L, x, mean, invstd, gamma, beta, relu, p, y); });
}

void batch_norm_forward_batch(int64_t N, int64_t C, int64_t L, const float* x, double eps,
                              const float* gamma, const float* beta, bool relu, double* mean,
                              double* var, double* invstd, float* y) {
  const auto& k = bn_kernels();
  for_blocks(N, C, L, [&](int64_t c0, int64_t cb) {
    k.forward_batch(N, C, L, x, eps, gamma, beta, relu, c0, cb, mean, var, invstd, y);
  });
}

void batch_norm_backward(int64_t N, int64_t C, int64_t L, const float* x, const double* mean,
                         const double* invstd, const float* gamma, const float* beta,
                         const float* gy, bool relu, bool batch_stats, float* gx, float* ggamma,
                         float* gbeta) {
  const auto& k = bn_kernels();
  for_blocks(N, C, L, [&](int64_t c0, int64_t cb) {
    k.backward(N, C, L, x, mean, invstd, gamma, beta, gy, relu, batch_stats, c0, cb, gx, ggamma,
               gbeta);
  });
}

}  // namespace convlab::kernels
