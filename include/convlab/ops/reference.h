// Reference implementations of every op: plain loops, templated on the scalar type so that the
// gradient checks run them in double precision and the fast float kernels are tested against them
// in float. Shapes are in each comment; all data is contiguous row-major.
//
// Backward contract (all ops): parameter gradients (grad_weight, grad_bias) are ADDED to, as
// PyTorch accumulates .grad; the input gradient is WRITTEN (overwritten), and skipped when null.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "convlab/ops/conv2d.h"
#include "convlab/ops/pool2d.h"

namespace convlab::reference {

// ---- conv2d: input (N,C,H,W), weight (O,C,KH,KW), bias (O) or null -> output (N,O,OH,OW) ----

template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* in, const T* w, const T* bias, T* out) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t y = 0; y < g.OH; ++y)
        for (int64_t x = 0; x < g.OW; ++x) {
          double acc = bias ? static_cast<double>(bias[o]) : 0.0;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t ky = 0; ky < g.KH; ++ky) {
              const int64_t iy = y * g.SH - g.PH + ky;
              if (iy < 0 || iy >= g.H) continue;
              for (int64_t kx = 0; kx < g.KW; ++kx) {
                const int64_t ix = x * g.SW - g.PW + kx;
                if (ix < 0 || ix >= g.W) continue;
                acc += static_cast<double>(in[((n * g.C + c) * g.H + iy) * g.W + ix]) *
                       static_cast<double>(w[((o * g.C + c) * g.KH + ky) * g.KW + kx]);
              }
            }
          out[((n * g.O + o) * g.OH + y) * g.OW + x] = static_cast<T>(acc);
        }
}

template <typename T>
void conv2d_backward(const Conv2dGeometry& g, const T* in, const T* w, const T* gout, T* gin, T* gw,
                     T* gb) {
  auto gout_at = [&](int64_t n, int64_t o, int64_t y, int64_t x) {
    return static_cast<double>(gout[((n * g.O + o) * g.OH + y) * g.OW + x]);
  };
  if (gb)
    for (int64_t o = 0; o < g.O; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t y = 0; y < g.OH; ++y)
          for (int64_t x = 0; x < g.OW; ++x) acc += gout_at(n, o, y, x);
      gb[o] += static_cast<T>(acc);
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
                  acc += gout_at(n, o, y, x) *
                         static_cast<double>(in[((n * g.C + c) * g.H + iy) * g.W + ix]);
                }
              }
            gw[((o * g.C + c) * g.KH + ky) * g.KW + kx] += static_cast<T>(acc);
          }
  if (gin) {
    // Scatter each output gradient back over its window, accumulating in double per image.
    std::vector<double> acc(static_cast<size_t>(g.C * g.H * g.W));
    for (int64_t n = 0; n < g.N; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t o = 0; o < g.O; ++o)
        for (int64_t y = 0; y < g.OH; ++y)
          for (int64_t x = 0; x < g.OW; ++x) {
            const double go = gout_at(n, o, y, x);
            for (int64_t c = 0; c < g.C; ++c)
              for (int64_t ky = 0; ky < g.KH; ++ky) {
                const int64_t iy = y * g.SH - g.PH + ky;
                if (iy < 0 || iy >= g.H) continue;
                for (int64_t kx = 0; kx < g.KW; ++kx) {
                  const int64_t ix = x * g.SW - g.PW + kx;
                  if (ix < 0 || ix >= g.W) continue;
                  acc[static_cast<size_t>((c * g.H + iy) * g.W + ix)] +=
                      go * static_cast<double>(w[((o * g.C + c) * g.KH + ky) * g.KW + kx]);
                }
              }
          }
      T* dst = gin + n * g.C * g.H * g.W;
      for (size_t i = 0; i < acc.size(); ++i) dst[i] = static_cast<T>(acc[i]);
    }
  }
}

// ---- linear: input (N,IN), weight (OUT,IN), bias (OUT) or null -> output (N,OUT) = x W^T + b ----

template <typename T>
void linear_forward(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* w, const T* b, T* y) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = b ? static_cast<double>(b[o]) : 0.0;
      for (int64_t i = 0; i < IN; ++i)
        acc += static_cast<double>(x[n * IN + i]) * static_cast<double>(w[o * IN + i]);
      y[n * OUT + o] = static_cast<T>(acc);
    }
}

template <typename T>
void linear_backward(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* w, const T* gy, T* gx,
                     T* gw, T* gb) {
  if (gb)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n) acc += static_cast<double>(gy[n * OUT + o]);
      gb[o] += static_cast<T>(acc);
    }
  if (gw)
    for (int64_t o = 0; o < OUT; ++o)
      for (int64_t i = 0; i < IN; ++i) {
        double acc = 0;
        for (int64_t n = 0; n < N; ++n)
          acc += static_cast<double>(gy[n * OUT + o]) * static_cast<double>(x[n * IN + i]);
        gw[o * IN + i] += static_cast<T>(acc);
      }
  if (gx)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < IN; ++i) {
        double acc = 0;
        for (int64_t o = 0; o < OUT; ++o)
          acc += static_cast<double>(gy[n * OUT + o]) * static_cast<double>(w[o * IN + i]);
        gx[n * IN + i] = static_cast<T>(acc);
      }
}

// ---- relu: y = max(x, 0); its gradient passes where x > 0 (PyTorch: zero at x == 0) ----

template <typename T>
void relu_forward(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward(int64_t n, const T* x, const T* gy, T* gx) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = gy[i];  // loaded unconditionally, so that the loop vectorises
    gx[i] = x[i] > T(0) ? g : T(0);
  }
}

// ---- max_pool2d: input (N,C,H,W) -> output (N,C,OH,OW); the first maximum in window order wins,
// and a NaN wins over everything (as PyTorch); backward routes each gradient to that element ----

template <typename T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* in, T* out) {
  for (int64_t nc = 0; nc < g.N * g.C; ++nc)
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t x = 0; x < g.OW; ++x) {
        T best = -std::numeric_limits<T>::infinity();
        for (int64_t ky = 0; ky < g.KH; ++ky)
          for (int64_t kx = 0; kx < g.KW; ++kx) {
            const int64_t iy = y * g.SH - g.PH + ky, ix = x * g.SW - g.PW + kx;
            if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
            const T v = in[(nc * g.H + iy) * g.W + ix];
            if (v > best || std::isnan(v)) {
              best = v;
              if (std::isnan(v)) goto done;
            }
          }
      done:
        out[(nc * g.OH + y) * g.OW + x] = best;
      }
}

template <typename T>
void max_pool2d_backward(const Pool2dGeometry& g, const T* in, const T* gout, T* gin) {
  std::fill(gin, gin + g.N * g.C * g.H * g.W, T(0));
  for (int64_t nc = 0; nc < g.N * g.C; ++nc)
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t x = 0; x < g.OW; ++x) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t arg = -1;
        for (int64_t ky = 0; ky < g.KH; ++ky)
          for (int64_t kx = 0; kx < g.KW; ++kx) {
            const int64_t iy = y * g.SH - g.PH + ky, ix = x * g.SW - g.PW + kx;
            if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
            const T v = in[(nc * g.H + iy) * g.W + ix];
            if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              arg = iy * g.W + ix;
            }
          }
        gin[nc * g.H * g.W + arg] += gout[(nc * g.OH + y) * g.OW + x];
      }
}

// ---- channel_sum: input (N,C,H,W) -> output (N,1,H,W), x.sum(dim=1, keepdim=True) ----

template <typename T>
void channel_sum_forward(int64_t N, int64_t C, int64_t HW, const T* x, T* y) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p) {
      T acc = 0;  // in channel order, in the tensor's own type, as PyTorch's sum over a short dim
      for (int64_t c = 0; c < C; ++c) acc += x[(n * C + c) * HW + p];
      y[n * HW + p] = acc;
    }
}

template <typename T>
void channel_sum_backward(int64_t N, int64_t C, int64_t HW, const T* gy, T* gx) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) gx[(n * C + c) * HW + p] = gy[n * HW + p];
}

// ---- cross_entropy: logits (N,K), targets (N) in [0,K) -> mean over the batch of
// logsumexp(logits[n]) - logits[n][target]; backward writes (softmax - onehot) / N * grad_loss ----

template <typename T>
double cross_entropy_forward(int64_t N, int64_t K, const T* logits, const int64_t* target) {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* z = logits + n * K;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < K; ++k) m = std::max(m, static_cast<double>(z[k]));
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(z[k]) - m);
    total += m + std::log(s) - static_cast<double>(z[target[n]]);
  }
  return total / static_cast<double>(N);
}

template <typename T>
void cross_entropy_backward(int64_t N, int64_t K, const T* logits, const int64_t* target,
                            double grad_loss, T* glogits, int64_t mean_over = 0) {
  // mean_over: the rows of the whole batch when these N are a chunk of it (data-parallel).
  const double rows = static_cast<double>(mean_over > 0 ? mean_over : N);
  for (int64_t n = 0; n < N; ++n) {
    const T* z = logits + n * K;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < K; ++k) m = std::max(m, static_cast<double>(z[k]));
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(z[k]) - m);
    for (int64_t k = 0; k < K; ++k) {
      const double p = std::exp(static_cast<double>(z[k]) - m) / s;
      glogits[n * K + k] = static_cast<T>((p - (k == target[n] ? 1.0 : 0.0)) * grad_loss / rows);
    }
  }
}

// ---- leaky_relu: y = x if x > 0 else slope * x; gradient 1 or slope (PyTorch: slope at x == 0)
// ----

template <typename T>
void leaky_relu_forward(int64_t n, T slope, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : x[i] * slope;
}

template <typename T>
void leaky_relu_backward(int64_t n, T slope, const T* x, const T* gy, T* gx) {
  for (int64_t i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? gy[i] : gy[i] * slope;
}

// ---- avg_pool2d: input (N,C,H,W) -> output (N,C,OH,OW), the mean of each window. The divisor
// is the window clipped to the padded input (count_include_pad) or to the input (otherwise), as
// PyTorch; a window wholly in the padding gives 0 ----

struct AvgWindow {
  int64_t y0, y1, x0, x1;  // the window clipped to the input, [y0, y1) x [x0, x1)
  int64_t divisor;
};

inline AvgWindow avg_window(const Pool2dGeometry& g, int64_t y, int64_t x, bool count_include_pad) {
  int64_t y0 = y * g.SH - g.PH, x0 = x * g.SW - g.PW;
  int64_t y1 = std::min(y0 + g.KH, g.H + g.PH), x1 = std::min(x0 + g.KW, g.W + g.PW);
  const int64_t padded = (y1 - y0) * (x1 - x0);
  y0 = std::max<int64_t>(y0, 0);
  x0 = std::max<int64_t>(x0, 0);
  y1 = std::min(y1, g.H);
  x1 = std::min(x1, g.W);
  const int64_t inside = std::max<int64_t>(y1 - y0, 0) * std::max<int64_t>(x1 - x0, 0);
  return {y0, y1, x0, x1, count_include_pad ? padded : inside};
}

template <typename T>
void avg_pool2d_forward(const Pool2dGeometry& g, bool count_include_pad, const T* in, T* out) {
  for (int64_t nc = 0; nc < g.N * g.C; ++nc)
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t x = 0; x < g.OW; ++x) {
        const AvgWindow w = avg_window(g, y, x, count_include_pad);
        double acc = 0;
        for (int64_t iy = w.y0; iy < w.y1; ++iy)
          for (int64_t ix = w.x0; ix < w.x1; ++ix)
            acc += static_cast<double>(in[(nc * g.H + iy) * g.W + ix]);
        out[(nc * g.OH + y) * g.OW + x] = w.divisor > 0 && w.y0 < w.y1 && w.x0 < w.x1
                                              ? static_cast<T>(acc / static_cast<double>(w.divisor))
                                              : T(0);
      }
}

template <typename T>
void avg_pool2d_backward(const Pool2dGeometry& g, bool count_include_pad, const T* gout, T* gin) {
  std::vector<double> acc(static_cast<size_t>(g.H * g.W));
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t y = 0; y < g.OH; ++y)
      for (int64_t x = 0; x < g.OW; ++x) {
        const AvgWindow w = avg_window(g, y, x, count_include_pad);
        if (w.divisor <= 0) continue;
        const double share =
            static_cast<double>(gout[(nc * g.OH + y) * g.OW + x]) / static_cast<double>(w.divisor);
        for (int64_t iy = w.y0; iy < w.y1; ++iy)
          for (int64_t ix = w.x0; ix < w.x1; ++ix) acc[static_cast<size_t>(iy * g.W + ix)] += share;
      }
    for (int64_t i = 0; i < g.H * g.W; ++i)
      gin[nc * g.H * g.W + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  }
}

// ---- adaptive_avg_pool2d: input (N,C,H,W) -> (N,C,OH,OW); output cell (y, x) averages rows
// [floor(y*H/OH), ceil((y+1)*H/OH)) and the columns likewise, as PyTorch ----

inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) {
  return (i * in) / out;
}
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
void adaptive_avg_pool2d_forward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 const T* in, T* out) {
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x) {
        const int64_t y0 = adaptive_start(y, H, OH), y1 = adaptive_end(y, H, OH);
        const int64_t x0 = adaptive_start(x, W, OW), x1 = adaptive_end(x, W, OW);
        double acc = 0;
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix)
            acc += static_cast<double>(in[(nc * H + iy) * W + ix]);
        out[(nc * OH + y) * OW + x] =
            static_cast<T>(acc / static_cast<double>((y1 - y0) * (x1 - x0)));
      }
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  const T* gout, T* gin) {
  std::vector<double> acc(static_cast<size_t>(H * W));
  for (int64_t nc = 0; nc < NC; ++nc) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x) {
        const int64_t y0 = adaptive_start(y, H, OH), y1 = adaptive_end(y, H, OH);
        const int64_t x0 = adaptive_start(x, W, OW), x1 = adaptive_end(x, W, OW);
        const double share = static_cast<double>(gout[(nc * OH + y) * OW + x]) /
                             static_cast<double>((y1 - y0) * (x1 - x0));
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) acc[static_cast<size_t>(iy * W + ix)] += share;
      }
    for (int64_t i = 0; i < H * W; ++i)
      gin[nc * H * W + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  }
}

// ---- batch_norm over x (N, C, L) (L = H*W, or 1 for BatchNorm1d on (N, C)). Training: each
// channel normalised by its batch mean and biased variance, y = (x - mean) * invstd * gamma + beta,
// invstd = 1/sqrt(var + eps); `mean` and `invstd` (C) are saved for backward. Evaluation: the
// given mean and var (running statistics) instead. gamma/beta may be null (affine=False) ----

template <typename T>
void batch_norm_statistics(int64_t N, int64_t C, int64_t L, const T* x, double* mean, double* var) {
  const double count = static_cast<double>(N * L);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) s += static_cast<double>(x[(n * C + c) * L + l]);
    const double m = s / count;
    double q = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const double d = static_cast<double>(x[(n * C + c) * L + l]) - m;
        q += d * d;
      }
    mean[c] = m;
    var[c] = q / count;
  }
}

template <typename T>
void batch_norm_normalize(int64_t N, int64_t C, int64_t L, const T* x, const double* mean,
                          const double* invstd, const T* gamma, const T* beta, T* y) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double scale = invstd[c] * (gamma ? static_cast<double>(gamma[c]) : 1.0);
      const double shift = beta ? static_cast<double>(beta[c]) : 0.0;
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        y[i] = static_cast<T>((static_cast<double>(x[i]) - mean[c]) * scale + shift);
      }
    }
}

// Gradients given the mean and invstd the forward pass normalised with. `batch_stats`: they were
// the batch's own (training), so the input gradient includes their dependence on x.
template <typename T>
void batch_norm_backward(int64_t N, int64_t C, int64_t L, const T* x, const double* mean,
                         const double* invstd, const T* gamma, const T* gy, bool batch_stats, T* gx,
                         T* ggamma, T* gbeta) {
  const double count = static_cast<double>(N * L);
  for (int64_t c = 0; c < C; ++c) {
    double sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        sum_gy += static_cast<double>(gy[i]);
        sum_gy_xhat +=
            static_cast<double>(gy[i]) * (static_cast<double>(x[i]) - mean[c]) * invstd[c];
      }
    if (ggamma) ggamma[c] += static_cast<T>(sum_gy_xhat);
    if (gbeta) gbeta[c] += static_cast<T>(sum_gy);
    if (!gx) continue;
    const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = (n * C + c) * L + l;
        double d = static_cast<double>(gy[i]);
        if (batch_stats) {
          const double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
          d -= (sum_gy + xhat * sum_gy_xhat) / count;
        }
        gx[i] = static_cast<T>(d * g * invstd[c]);
      }
  }
}

}  // namespace convlab::reference
