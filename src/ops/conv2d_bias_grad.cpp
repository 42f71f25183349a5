#include "conv2d_bias_grad.h"

#include <immintrin.h>

#include <vector>

#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"

namespace convlab::kernels {

namespace {

// The tail of a plane past its whole lanes, [p, pixels), added to part in order (with relu, as
// below, written to gz first).
inline float tail_sum(const float* out, const float* gout, float* gz, int64_t p, int64_t pixels,
                      float part) {
  for (; p < pixels; ++p) {
    float v = gout[p];
    if (out) gz[p] = v = out[p] > 0.0f ? v : 0.0f;
    part += v;
  }
  return part;
}

// One image's plane of one channel: 16 interleaved lanes, then the lanes in order, then the tail.
// With relu (out given), the plane is first gz = gout where out > 0, else 0, written to gz.
float plane_sum(const float* out, const float* gout, float* gz, int64_t pixels) {
  float lanes[16] = {};
  int64_t p = 0;
  for (; p + 16 <= pixels; p += 16)
    for (int l = 0; l < 16; ++l) {
      float v = gout[p + l];  // loaded unconditionally, so that the loop vectorises
      if (out) gz[p + l] = v = out[p + l] > 0.0f ? v : 0.0f;
      lanes[l] += v;
    }
  float part = 0;
  for (float v : lanes) part += v;
  return tail_sum(out, gout, gz, p, pixels, part);
}

// plane_sum with the lanes in one vector (the baseline build's vectors are 4 wide): the same
// additions in the same order. The relu's select keeps +0 where out is not above 0 (NaN too).
__attribute__((target("avx512f"))) float plane_sum_avx512(const float* out, const float* gout,
                                                          float* gz, int64_t pixels) {
  __m512 lanes = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= pixels; p += 16) {
    __m512 v = _mm512_loadu_ps(gout + p);
    if (out) {
      v = _mm512_maskz_mov_ps(
          _mm512_cmp_ps_mask(_mm512_loadu_ps(out + p), _mm512_setzero_ps(), _CMP_GT_OQ), v);
      _mm512_storeu_ps(gz + p, v);
    }
    lanes = _mm512_add_ps(lanes, v);
  }
  alignas(64) float lane[16];
  _mm512_store_ps(lane, lanes);
  float part = 0;
  for (float v : lane) part += v;
  return tail_sum(out, gout, gz, p, pixels, part);
}

// Image n's planes: parts[o] = the sum of channel o's plane.
void image_sums(const Conv2dGeometry& g, const float* out, const float* gout, float* gz, int64_t n,
                float* parts) {
  const int64_t pixels = g.OH * g.OW;
  const bool avx512 = active_isa() == Isa::avx512;
  for (int64_t o = 0; o < g.O; ++o) {
    const int64_t at = (n * g.O + o) * pixels;
    const float* o_at = out ? out + at : nullptr;
    float* z_at = gz ? gz + at : nullptr;
    parts[o] = avx512 ? plane_sum_avx512(o_at, gout + at, z_at, pixels)
                      : plane_sum(o_at, gout + at, z_at, pixels);
  }
}

// Planes summed across tasks by image, then each channel's images added in double in image order.
void bias_grad(const Conv2dGeometry& g, const float* out, const float* gout, float* gz, float* gb) {
  std::vector<float> parts(static_cast<size_t>(g.N * g.O));
  parallel_for(g.N, [&](int64_t n) { image_sums(g, out, gout, gz, n, parts.data() + n * g.O); });
  conv2d_bias_grad_add(g, parts.data(), gb);
}

}  // namespace

void conv2d_bias_grad_image(const Conv2dGeometry& g, const float* gout, int64_t n, float* parts) {
  image_sums(g, nullptr, gout, nullptr, n, parts);
}

void conv2d_bias_grad_add(const Conv2dGeometry& g, const float* parts, float* gb) {
  for (int64_t o = 0; o < g.O; ++o) {
    double acc = 0;
    for (int64_t n = 0; n < g.N; ++n) acc += parts[n * g.O + o];
    gb[o] += static_cast<float>(acc);
  }
}

void conv2d_bias_grad(const Conv2dGeometry& g, const float* gout, float* gb) {
  bias_grad(g, nullptr, gout, nullptr, gb);
}

void relu_backward_bias_grad(const Conv2dGeometry& g, const float* out, const float* gout,
                             float* gz, float* gb) {
  bias_grad(g, out, gout, gz, gb);
}

}  // namespace convlab::kernels
