// Memory-bound ops: the reference loops, split into fixed chunks across the active thread pool,
// and vectorised 2x2 stride-2 max pooling (pool2x2.h), the notebook's.
#include <algorithm>
#include <cmath>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "pool2x2.h"

namespace convlab::kernels {

namespace {

constexpr int64_t kChunk = 16384;  // elements per task

template <typename F>
void for_chunks(int64_t n, F f) {
  parallel_for((n + kChunk - 1) / kChunk,
               [&](int64_t i) { f(i * kChunk, std::min(kChunk, n - i * kChunk)); });
}

// The planes [p0, p0 + count) of a pooling problem, as their own geometry.
Pool2dGeometry planes(const Pool2dGeometry& g, int64_t count) {
  Pool2dGeometry s = g;
  s.N = 1;
  s.C = count;
  return s;
}

bool is_2x2_stride2(const Pool2dGeometry& g) {
  return g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0;
}

// 2x2 stride-2 pooling of `planes` planes (H, W), forward and backward, per instruction set
// (pool2x2.h: 16 windows at a time with AVX-512, the scalar rule otherwise).
template <int VL>
CONVLAB_INLINE void pool_planes(const float* in, int64_t planes, int64_t H, int64_t W, float* out) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t y = 0; y < OH; ++y) {
      const float* r0 = in + (c * H + 2 * y) * W;
      pool2x2::forward_row<VL, /*kRelu=*/false>(r0, r0 + W, OW, out + (c * OH + y) * OW, nullptr);
    }
}

template <int VL>
CONVLAB_INLINE void pool_planes_backward(const float* in, const float* gout, int64_t planes,
                                         int64_t H, int64_t W, float* gin) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t y = 0; y < OH; ++y) {
      const float* r0 = in + (c * H + 2 * y) * W;
      float* g0 = gin + (c * H + 2 * y) * W;
      pool2x2::backward_row<VL>(r0, r0 + W, gout + (c * OH + y) * OW, OW, g0, g0 + W);
      for (int64_t x = 2 * OW; x < W; ++x) g0[x] = g0[W + x] = 0.0f;  // odd width: in no window
    }
    if (H % 2) std::fill(gin + (c * H + H - 1) * W, gin + (c + 1) * H * W, 0.0f);
  }
}

__attribute__((target("arch=x86-64-v4"), flatten)) void pool_planes_avx512(const float* in,
                                                                           int64_t planes,
                                                                           int64_t H, int64_t W,
                                                                           float* out) {
  pool_planes<16>(in, planes, H, W, out);
}
__attribute__((flatten)) void pool_planes_scalar(const float* in, int64_t planes, int64_t H,
                                                 int64_t W, float* out) {
  pool_planes<1>(in, planes, H, W, out);
}
__attribute__((target("arch=x86-64-v4"), flatten)) void pool_planes_backward_avx512(
    const float* in, const float* gout, int64_t planes, int64_t H, int64_t W, float* gin) {
  pool_planes_backward<16>(in, gout, planes, H, W, gin);
}
__attribute__((flatten)) void pool_planes_backward_scalar(const float* in, const float* gout,
                                                          int64_t planes, int64_t H, int64_t W,
                                                          float* gin) {
  pool_planes_backward<1>(in, gout, planes, H, W, gin);
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) {
  for_chunks(n, [&](int64_t s, int64_t len) { reference::relu_forward(len, x + s, y + s); });
}

void add(int64_t n, const float* a, const float* b, bool relu, float* z) {
  for_chunks(n, [&](int64_t s, int64_t len) {
    if (relu)
      for (int64_t i = s; i < s + len; ++i) {
        const float v = a[i] + b[i];
        z[i] = v > 0.0f ? v : 0.0f;
      }
    else
      for (int64_t i = s; i < s + len; ++i) z[i] = a[i] + b[i];
  });
}

void relu_backward(int64_t n, const float* x, const float* gy, float* gx) {
  for_chunks(n,
             [&](int64_t s, int64_t len) { reference::relu_backward(len, x + s, gy + s, gx + s); });
}

void max_pool2d_forward(const Pool2dGeometry& g, const float* in, float* out) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  if (is_2x2_stride2(g)) {  // one task per image
    const bool avx512 = active_isa() == Isa::avx512;
    parallel_for(g.N, [&](int64_t n) {
      const float* src = in + n * g.C * in_plane;
      float* dst = out + n * g.C * out_plane;
      if (avx512)
        pool_planes_avx512(src, g.C, g.H, g.W, dst);
      else
        pool_planes_scalar(src, g.C, g.H, g.W, dst);
    });
    return;
  }
  parallel_for(g.N * g.C, [&](int64_t p) {
    reference::max_pool2d_forward(planes(g, 1), in + p * in_plane, out + p * out_plane);
  });
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* in, const float* gout, float* gin) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  if (is_2x2_stride2(g)) {  // one task per image
    const bool avx512 = active_isa() == Isa::avx512;
    parallel_for(g.N, [&](int64_t n) {
      const float* src = in + n * g.C * in_plane;
      const float* go = gout + n * g.C * out_plane;
      float* gi = gin + n * g.C * in_plane;
      if (avx512)
        pool_planes_backward_avx512(src, go, g.C, g.H, g.W, gi);
      else
        pool_planes_backward_scalar(src, go, g.C, g.H, g.W, gi);
    });
    return;
  }
  parallel_for(g.N * g.C, [&](int64_t p) {
    reference::max_pool2d_backward(planes(g, 1), in + p * in_plane, gout + p * out_plane,
                                   gin + p * in_plane);
  });
}

void channel_sum_forward(int64_t N, int64_t C, int64_t HW, const float* x, float* y) {
  parallel_for(
      N, [&](int64_t n) { reference::channel_sum_forward(1, C, HW, x + n * C * HW, y + n * HW); });
}

void channel_sum_backward(int64_t N, int64_t C, int64_t HW, const float* gy, float* gx) {
  parallel_for(N, [&](int64_t n) {
    reference::channel_sum_backward(1, C, HW, gy + n * HW, gx + n * C * HW);
  });
}

}  // namespace convlab::kernels
