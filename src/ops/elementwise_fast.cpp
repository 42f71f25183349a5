// Memory-bound ops: the reference loops, split into fixed chunks across the active thread pool,
// and a direct path for the notebook's 2x2 stride-2 max pooling.
#include <algorithm>
#include <cmath>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"

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

// max of a 2x2 window in window order, NaN winning, first maximum on ties (as the reference).
inline int pick_2x2(float a, float b, float c, float d) {
  int arg = 0;
  float best = a;
  const float v[4] = {a, b, c, d};
  if (std::isnan(best)) return 0;
  for (int k = 1; k < 4; ++k) {
    if (v[k] > best || std::isnan(v[k])) {
      best = v[k];
      arg = k;
      if (std::isnan(best)) break;
    }
  }
  return arg;
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) {
  for_chunks(n, [&](int64_t s, int64_t len) { reference::relu_forward(len, x + s, y + s); });
}

void relu_backward(int64_t n, const float* x, const float* gy, float* gx) {
  for_chunks(n,
             [&](int64_t s, int64_t len) { reference::relu_backward(len, x + s, gy + s, gx + s); });
}

void max_pool2d_forward(const Pool2dGeometry& g, const float* in, float* out) {
  const int64_t planes_total = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(planes_total, [&](int64_t p) {
    const float* src = in + p * in_plane;
    float* dst = out + p * out_plane;
    if (!is_2x2_stride2(g)) {
      reference::max_pool2d_forward(planes(g, 1), src, dst);
      return;
    }
    for (int64_t y = 0; y < g.OH; ++y) {
      const float* r0 = src + 2 * y * g.W;
      const float* r1 = r0 + g.W;
      for (int64_t x = 0; x < g.OW; ++x) {
        const float a = r0[2 * x], b = r0[2 * x + 1], c = r1[2 * x], d = r1[2 * x + 1];
        const float v[4] = {a, b, c, d};
        dst[y * g.OW + x] = v[pick_2x2(a, b, c, d)];
      }
    }
  });
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* in, const float* gout, float* gin) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.N * g.C, [&](int64_t p) {
    const float* src = in + p * in_plane;
    const float* go = gout + p * out_plane;
    float* gi = gin + p * in_plane;
    if (!is_2x2_stride2(g)) {
      reference::max_pool2d_backward(planes(g, 1), src, go, gi);
      return;
    }
    std::fill(gi, gi + in_plane, 0.0f);
    for (int64_t y = 0; y < g.OH; ++y) {
      const float* r0 = src + 2 * y * g.W;
      const float* r1 = r0 + g.W;
      for (int64_t x = 0; x < g.OW; ++x) {
        const int k = pick_2x2(r0[2 * x], r0[2 * x + 1], r1[2 * x], r1[2 * x + 1]);
        gi[(2 * y + k / 2) * g.W + 2 * x + k % 2] += go[y * g.OW + x];
      }
    }
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
