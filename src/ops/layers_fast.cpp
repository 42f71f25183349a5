// The kernels of the layers that are not (yet) hot in the notebook's network: leaky ReLU, average
// pooling and adaptive average pooling (batch normalisation: batchnorm_fast.cpp). Each computes
// what the reference loop computes, in its order, on a share of the work split by the problem
// (planes) never by the thread count, so the results equal the reference's bit for bit at any
// thread count; tests/kernels_test.cpp holds them to it.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "gemm.h"

// GCC 12's AVX-512 headers leave a placeholder operand undefined in _mm512_cvtps_pd and warn about
// it once inlined (GCC bug 105593).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::kernels {

namespace {
constexpr int64_t kChunk = 1 << 14;  // elements per task of an elementwise op

// The forward of average pooling, plain or adaptive: out = float(sum / divisor) over each window,
// the sum in double over rows then columns as the reference adds them. The reference's single sum
// per window is a chain of dependent additions (4 cycles each): a 7 x 7 average of 64 x 64 planes
// took 3 % of small7's inference. Here 16 planes at a time are turned into 16 lanes (one vector
// per pixel) and summed lane by lane in two vectors of doubles on AVX-512, 8 planes with a sum
// each elsewhere; either way each plane's sum takes its pixels in the reference's order.
// window_of(y, x) gives the window [y0, y1) x [x0, x1), its divisor, and whether it has any input
// (else 0).
struct Window {
  int64_t y0, y1, x0, x1, divisor;
  bool valid;
};

// A window's average as the reference rounds it: the double sum over the divisor, then to float;
// 0 for a window with no input.
float window_mean(double sum, const Window& w) {
  return w.valid ? static_cast<float>(sum / static_cast<double>(w.divisor)) : 0.0f;
}

template <typename WindowOf>
__attribute__((target("avx512f"))) void average_16_planes(int64_t n, int64_t H, int64_t W,
                                                          int64_t OH, int64_t OW,
                                                          WindowOf window_of, const float* src,
                                                          float* dst) {
  // pixel-major: lanes[(iy * W + ix) * 16 + k] = plane k's pixel, zero past the n planes
  thread_local std::vector<float> lanes;
  lanes.resize(static_cast<size_t>(H * W * 16));
  if (n < 16) std::fill(lanes.begin(), lanes.end(), 0.0f);  // lanes past the planes sum zeros
  kernels::transpose(n, H * W, src, H * W, lanes.data(), 16);
  for (int64_t y = 0; y < OH; ++y)
    for (int64_t x = 0; x < OW; ++x) {
      const Window w = window_of(y, x);
      __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
      for (int64_t iy = w.y0; iy < w.y1; ++iy)
        for (int64_t ix = w.x0; ix < w.x1; ++ix) {
          const __m512 v = _mm512_loadu_ps(lanes.data() + (iy * W + ix) * 16);
          lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
          hi = _mm512_add_pd(
              hi,
              _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        }
      alignas(64) double sums[16];
      _mm512_store_pd(sums, lo);
      _mm512_store_pd(sums + 8, hi);
      for (int64_t k = 0; k < n; ++k) dst[k * OH * OW + y * OW + x] = window_mean(sums[k], w);
    }
}

template <typename WindowOf>
void average_windows(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                     WindowOf window_of, const float* in, float* out) {
  if (active_isa() == Isa::avx512) {
    parallel_for_items((planes + 15) / 16, 16 * H * W, [&](int64_t group) {
      const int64_t p0 = group * 16;
      average_16_planes(std::min<int64_t>(16, planes - p0), H, W, OH, OW, window_of,
                        in + p0 * H * W, out + p0 * OH * OW);
    });
    return;
  }
  constexpr int64_t kGroup = 8;
  parallel_for_items((planes + kGroup - 1) / kGroup, kGroup * H * W, [&](int64_t group) {
    const int64_t p0 = group * kGroup, n = std::min(kGroup, planes - p0);
    const float* src = in + p0 * H * W;
    float* dst = out + p0 * OH * OW;
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x) {
        const Window w = window_of(y, x);
        double acc[kGroup] = {};
        for (int64_t iy = w.y0; iy < w.y1; ++iy)
          for (int64_t ix = w.x0; ix < w.x1; ++ix)
            for (int64_t k = 0; k < n; ++k)
              acc[k] += static_cast<double>(src[k * H * W + iy * W + ix]);
        for (int64_t k = 0; k < n; ++k) dst[k * OH * OW + y * OW + x] = window_mean(acc[k], w);
      }
  });
}
// The backward of both poolings: gin = float(sum over the windows holding a pixel, in window
// order, of double(gout) / divisor), one plane's sums at a time in a buffer of the thread (the
// reference's own buffer was allocated per plane).
template <typename WindowOf>
void spread_windows(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                    WindowOf window_of, const float* gout, float* gin) {
  // The windows are the same on every plane: found once (adaptive pooling's bounds per plane had
  // cost more than its sums). Where none overlaps another (global pooling, kernel = stride), a
  // pixel's sum is its one window's share, 0 + share, written straight: the same bits (deep4x4's
  // global pooling of 64 x 256 planes of 4 x 4, backward: 0.33 -> 0.18 ms at 1 thread).
  std::vector<Window> windows(static_cast<size_t>(OH * OW));
  std::vector<int> cover(static_cast<size_t>(H * W), 0);
  bool disjoint = true;
  for (int64_t y = 0; y < OH; ++y)
    for (int64_t x = 0; x < OW; ++x) {
      const Window w = windows[static_cast<size_t>(y * OW + x)] = window_of(y, x);
      if (!w.valid) continue;
      for (int64_t iy = w.y0; iy < w.y1; ++iy)
        for (int64_t ix = w.x0; ix < w.x1; ++ix)
          disjoint = ++cover[static_cast<size_t>(iy * W + ix)] == 1 && disjoint;
    }
  const auto share = [](float g, const Window& w) {
    return 0.0 + static_cast<double>(g) / static_cast<double>(w.divisor);
  };
  if (disjoint) {
    const bool whole = std::find(cover.begin(), cover.end(), 0) == cover.end();
    parallel_for_items(planes, H * W, [&](int64_t p) {
      const float* go = gout + p * OH * OW;
      float* gi = gin + p * H * W;
      if (!whole) std::fill(gi, gi + H * W, 0.0f);
      for (int64_t q = 0; q < OH * OW; ++q) {
        const Window& w = windows[static_cast<size_t>(q)];
        if (!w.valid) continue;
        const float v = static_cast<float>(share(go[q], w));
        for (int64_t iy = w.y0; iy < w.y1; ++iy)
          for (int64_t ix = w.x0; ix < w.x1; ++ix) gi[iy * W + ix] = v;
      }
    });
    return;
  }
  parallel_for_items(planes, H * W, [&](int64_t p) {
    thread_local std::vector<double> acc;
    acc.assign(static_cast<size_t>(H * W), 0.0);
    const float* go = gout + p * OH * OW;
    for (int64_t q = 0; q < OH * OW; ++q) {
      const Window& w = windows[static_cast<size_t>(q)];
      if (!w.valid) continue;
      const double v = share(go[q], w);
      for (int64_t iy = w.y0; iy < w.y1; ++iy)
        for (int64_t ix = w.x0; ix < w.x1; ++ix) acc[static_cast<size_t>(iy * W + ix)] += v;
    }
    float* gi = gin + p * H * W;
    for (int64_t i = 0; i < H * W; ++i) gi[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
  });
}

// Adaptive pooling's window of output (y, x): rows [floor(y H / OH), ceil((y + 1) H / OH)), the
// columns likewise.
auto adaptive_window(int64_t H, int64_t W, int64_t OH, int64_t OW) {
  return [=](int64_t y, int64_t x) {
    const int64_t y0 = reference::adaptive_start(y, H, OH), y1 = reference::adaptive_end(y, H, OH);
    const int64_t x0 = reference::adaptive_start(x, W, OW), x1 = reference::adaptive_end(x, W, OW);
    return Window{y0, y1, x0, x1, (y1 - y0) * (x1 - x0), true};
  };
}
}  // namespace

void leaky_relu_forward(int64_t n, float slope, const float* x, float* y) {
  parallel_for((n + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t a = t * kChunk, len = std::min(kChunk, n - a);
    reference::leaky_relu_forward(len, slope, x + a, y + a);
  });
}

void leaky_relu_backward(int64_t n, float slope, const float* x, const float* gy, float* gx) {
  parallel_for((n + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t a = t * kChunk, len = std::min(kChunk, n - a);
    reference::leaky_relu_backward(len, slope, x + a, gy + a, gx + a);
  });
}

void avg_pool2d_forward(const Pool2dGeometry& g, bool count_include_pad, const float* in,
                        float* out) {
  average_windows(
      g.N * g.C, g.H, g.W, g.OH, g.OW,
      [&](int64_t y, int64_t x) {
        const reference::AvgWindow w = reference::avg_window(g, y, x, count_include_pad);
        return Window{w.y0, w.y1,      w.x0,
                      w.x1, w.divisor, w.divisor > 0 && w.y0 < w.y1 && w.x0 < w.x1};
      },
      in, out);
}

void avg_pool2d_backward(const Pool2dGeometry& g, bool count_include_pad, const float* gout,
                         float* gin) {
  spread_windows(
      g.N * g.C, g.H, g.W, g.OH, g.OW,
      [&](int64_t y, int64_t x) {
        const reference::AvgWindow w = reference::avg_window(g, y, x, count_include_pad);
        return Window{w.y0, w.y1, w.x0, w.x1, w.divisor, w.divisor > 0};
      },
      gout, gin);
}

void adaptive_avg_pool2d_forward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const float* in, float* out) {
  average_windows(NC, H, W, OH, OW, adaptive_window(H, W, OH, OW), in, out);
}

void adaptive_avg_pool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const float* gout, float* gin) {
  spread_windows(NC, H, W, OH, OW, adaptive_window(H, W, OH, OW), gout, gin);
}

}  // namespace convlab::kernels
