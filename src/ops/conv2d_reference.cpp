#include <algorithm>
#include <vector>

#include "convlab/error.h"
#include "convlab/ops/conv2d.h"

namespace convlab {

Conv2dGeometry conv2d_geometry(const Shape& input, const Shape& weight, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, const std::string& who) {
  if (weight.size() != 4)
    throw ShapeError(who + ": weight must be 4-D (out_channels, in_channels, kH, kW); got shape " +
                     to_string(weight));
  if (input.size() != 4)
    throw ShapeError(who + ": expected a 4-D input (N, C, H, W) with C = " +
                     std::to_string(weight[1]) + "; got shape " + to_string(input));
  for (int64_t d : weight)
    if (d <= 0)
      throw ValueError(who + ": weight sizes must be positive; got shape " + to_string(weight));
  if (sh <= 0 || sw <= 0)
    throw ValueError(who + ": stride must be positive; got (" + std::to_string(sh) + ", " +
                     std::to_string(sw) + ")");
  if (ph < 0 || pw < 0)
    throw ValueError(who + ": padding must be non-negative; got (" + std::to_string(ph) + ", " +
                     std::to_string(pw) + ")");
  if (input[1] != weight[1])
    throw ShapeError(who + ": expected input with " + std::to_string(weight[1]) +
                     " channels, shape [N, " + std::to_string(weight[1]) + ", H, W]; got " +
                     std::to_string(input[1]) + " channels, shape " + to_string(input));
  if (input[0] <= 0 || input[2] <= 0 || input[3] <= 0)
    throw ShapeError(who + ": input sizes must be positive; got shape " + to_string(input));
  const int64_t hp = input[2] + 2 * ph, wp = input[3] + 2 * pw;
  if (weight[2] > hp || weight[3] > wp)
    throw ShapeError(who + ": kernel size (" + std::to_string(weight[2]) + ", " +
                     std::to_string(weight[3]) + ") is larger than the padded input (" +
                     std::to_string(hp) + ", " + std::to_string(wp) + ") of input shape " +
                     to_string(input));
  Conv2dGeometry g{input[0], input[1], input[2], input[3], weight[0], weight[2], weight[3],
                   sh,       sw,       ph,       pw,       0,         0};
  g.OH = (hp - g.KH) / sh + 1;
  g.OW = (wp - g.KW) / sw + 1;
  return g;
}

namespace reference {

void conv2d_forward(const Conv2dGeometry& g, const float* in, const float* w, const float* bias,
                    float* out) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t y = 0; y < g.OH; ++y)
        for (int64_t x = 0; x < g.OW; ++x) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t ky = 0; ky < g.KH; ++ky) {
              const int64_t iy = y * g.SH - g.PH + ky;
              if (iy < 0 || iy >= g.H) continue;
              for (int64_t kx = 0; kx < g.KW; ++kx) {
                const int64_t ix = x * g.SW - g.PW + kx;
                if (ix < 0 || ix >= g.W) continue;
                acc += static_cast<double>(in[((n * g.C + c) * g.H + iy) * g.W + ix]) *
                       w[((o * g.C + c) * g.KH + ky) * g.KW + kx];
              }
            }
          out[((n * g.O + o) * g.OH + y) * g.OW + x] = static_cast<float>(acc);
        }
}

void conv2d_backward(const Conv2dGeometry& g, const float* in, const float* w, const float* gout,
                     float* gin, float* gw, float* gb) {
  auto gout_at = [&](int64_t n, int64_t o, int64_t y, int64_t x) {
    return static_cast<double>(gout[((n * g.O + o) * g.OH + y) * g.OW + x]);
  };
  if (gb)
    for (int64_t o = 0; o < g.O; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t y = 0; y < g.OH; ++y)
          for (int64_t x = 0; x < g.OW; ++x) acc += gout_at(n, o, y, x);
      gb[o] += static_cast<float>(acc);
    }
  if (gw)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t ky = 0; ky < g.KH; ++ky)
          for (int64_t kx = 0; kx < g.KW; ++kx) {
            double acc = 0;
            for (int64_t n = 0; n < g.N; ++n)
              for (int64_t y = 0; y < g.OH; ++y) {
                const int64_t iy = y * g.SH - g.PH + ky;
                if (iy < 0 || iy >= g.H) continue;
                for (int64_t x = 0; x < g.OW; ++x) {
                  const int64_t ix = x * g.SW - g.PW + kx;
                  if (ix < 0 || ix >= g.W) continue;
                  acc += gout_at(n, o, y, x) * in[((n * g.C + c) * g.H + iy) * g.W + ix];
                }
              }
            gw[((o * g.C + c) * g.KH + ky) * g.KW + kx] += static_cast<float>(acc);
          }
  if (gin) {
    // Gather form: each input pixel sums over the outputs whose window covers it.
    std::vector<double> acc(static_cast<size_t>(g.H * g.W));
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t c = 0; c < g.C; ++c) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t o = 0; o < g.O; ++o)
          for (int64_t y = 0; y < g.OH; ++y)
            for (int64_t x = 0; x < g.OW; ++x) {
              const double go = gout_at(n, o, y, x);
              for (int64_t ky = 0; ky < g.KH; ++ky) {
                const int64_t iy = y * g.SH - g.PH + ky;
                if (iy < 0 || iy >= g.H) continue;
                for (int64_t kx = 0; kx < g.KW; ++kx) {
                  const int64_t ix = x * g.SW - g.PW + kx;
                  if (ix < 0 || ix >= g.W) continue;
                  acc[static_cast<size_t>(iy * g.W + ix)] +=
                      go * w[((o * g.C + c) * g.KH + ky) * g.KW + kx];
                }
              }
            }
        float* dst = gin + (n * g.C + c) * g.H * g.W;
        for (int64_t i = 0; i < g.H * g.W; ++i)
          dst[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
      }
  }
}

}  // namespace reference
}  // namespace convlab
