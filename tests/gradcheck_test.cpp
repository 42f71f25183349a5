// Gradient checks: each reference op's backward, run in double precision, against central finite
// differences of L = sum(output * R) (so dL/doutput = R) on random shapes.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "convlab/ops/reference.h"

using namespace convlab;

namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Checks analytic gradient `grad` of loss(x) with respect to x at every element.
void expect_gradient(const std::function<double(const Vec&)>& loss, Vec x, const Vec& grad,
                     const std::string& what) {
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss(x);
    x[i] = saved - h;
    const double down = loss(x);
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    ASSERT_NEAR(grad[i], numeric, 1e-6 * std::max(1.0, std::fabs(numeric)))
        << what << " element " << i;
  }
}

}  // namespace

TEST(GradCheck, Conv2dInputWeightBias) {
  std::mt19937 rng(1);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 12; ++trial) {
    const int n = pick(1, 2), c = pick(1, 3), o = pick(1, 3), kh = pick(1, 4), kw = pick(1, 4);
    const int sh = pick(1, 3), sw = pick(1, 3), ph = pick(0, 2), pw = pick(0, 2);
    const int h = std::max(kh - 2 * ph, 1) + pick(0, 5),
              w = std::max(kw - 2 * pw, 1) + pick(0, 5);  // odd sizes too
    const auto g = conv2d_geometry({n, c, h, w}, {o, c, kh, kw}, sh, sw, ph, pw, "gradcheck");
    Vec x = random_vec(static_cast<size_t>(n * c * h * w), rng),
        wt = random_vec(static_cast<size_t>(o * c * kh * kw), rng);
    Vec b = random_vec(static_cast<size_t>(o), rng),
        r = random_vec(static_cast<size_t>(numel(g.output_shape())), rng);
    auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
      Vec y(r.size());
      reference::conv2d_forward(g, xx.data(), ww.data(), bb.data(), y.data());
      return dot(y, r);
    };
    Vec gx(x.size(), 1e300), gw(wt.size(), 0.0), gb(b.size(), 0.0);
    reference::conv2d_backward(g, x.data(), wt.data(), r.data(), gx.data(), gw.data(), gb.data());
    const std::string what = "conv trial " + std::to_string(trial);
    expect_gradient([&](const Vec& v) { return loss(v, wt, b); }, x, gx, what + " input");
    expect_gradient([&](const Vec& v) { return loss(x, v, b); }, wt, gw, what + " weight");
    expect_gradient([&](const Vec& v) { return loss(x, wt, v); }, b, gb, what + " bias");
  }
}

TEST(GradCheck, Linear) {
  std::mt19937 rng(2);
  for (auto [N, IN, OUT] : {std::array<int64_t, 3>{1, 1, 1}, {3, 7, 5}, {4, 13, 2}}) {
    Vec x = random_vec(static_cast<size_t>(N * IN), rng),
        w = random_vec(static_cast<size_t>(OUT * IN), rng);
    Vec b = random_vec(static_cast<size_t>(OUT), rng),
        r = random_vec(static_cast<size_t>(N * OUT), rng);
    auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
      Vec y(r.size());
      reference::linear_forward(N, IN, OUT, xx.data(), ww.data(), bb.data(), y.data());
      return dot(y, r);
    };
    Vec gx(x.size()), gw(w.size(), 0.0), gb(b.size(), 0.0);
    reference::linear_backward(N, IN, OUT, x.data(), w.data(), r.data(), gx.data(), gw.data(),
                               gb.data());
    expect_gradient([&](const Vec& v) { return loss(v, w, b); }, x, gx, "linear input");
    expect_gradient([&](const Vec& v) { return loss(x, v, b); }, w, gw, "linear weight");
    expect_gradient([&](const Vec& v) { return loss(x, w, v); }, b, gb, "linear bias");
  }
}

TEST(GradCheck, ReLUAwayFromZero) {
  std::mt19937 rng(3);
  Vec x = random_vec(50, rng), r = random_vec(50, rng);
  for (auto& v : x)
    if (std::fabs(v) < 1e-3) v = 0.5;  // the kink is not differentiable
  auto loss = [&](const Vec& xx) {
    Vec y(xx.size());
    reference::relu_forward(static_cast<int64_t>(xx.size()), xx.data(), y.data());
    return dot(y, r);
  };
  Vec gx(x.size());
  reference::relu_backward(static_cast<int64_t>(x.size()), x.data(), r.data(), gx.data());
  expect_gradient(loss, x, gx, "relu");
}

TEST(GradCheck, MaxPool2dStridesAndPadding) {
  std::mt19937 rng(4);
  struct Case {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
  };
  for (const Case& k : {Case{2, 3, 8, 8, 2, 2, 2, 2, 0, 0}, Case{1, 2, 7, 5, 3, 2, 2, 1, 1, 1},
                        Case{1, 1, 9, 9, 3, 3, 3, 3, 1, 0}, Case{2, 1, 5, 6, 2, 3, 1, 2, 0, 1}}) {
    const auto g =
        pool2d_geometry({k.n, k.c, k.h, k.w}, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, "gradcheck");
    Vec x =
        random_vec(static_cast<size_t>(k.n * k.c * k.h * k.w), rng);  // distinct values: no ties
    Vec r = random_vec(static_cast<size_t>(numel(g.output_shape())), rng);
    auto loss = [&](const Vec& xx) {
      Vec y(r.size());
      reference::max_pool2d_forward(g, xx.data(), y.data());
      return dot(y, r);
    };
    Vec gx(x.size(), 1e300);
    reference::max_pool2d_backward(g, x.data(), r.data(), gx.data());
    expect_gradient(loss, x, gx, "maxpool");
  }
}

TEST(GradCheck, ChannelSum) {
  std::mt19937 rng(5);
  Vec x = random_vec(2 * 3 * 4 * 5, rng), r = random_vec(2 * 4 * 5, rng);
  auto loss = [&](const Vec& xx) {
    Vec y(r.size());
    reference::channel_sum_forward<double>(2, 3, 20, xx.data(), y.data());
    return dot(y, r);
  };
  Vec gx(x.size());
  reference::channel_sum_backward<double>(2, 3, 20, r.data(), gx.data());
  expect_gradient(loss, x, gx, "channel_sum");
}

TEST(GradCheck, CrossEntropyIncludingLargeLogits) {
  std::mt19937 rng(6);
  for (double scale : {1.0, 50.0}) {  // 50: exp overflows without the log-sum-exp shift
    const int64_t N = 4, K = 10;
    Vec z = random_vec(static_cast<size_t>(N * K), rng, scale);
    const std::vector<int64_t> t = {0, 9, 3, 3};
    auto loss = [&](const Vec& zz) {
      return reference::cross_entropy_forward(N, K, zz.data(), t.data());
    };
    EXPECT_TRUE(std::isfinite(loss(z)));
    Vec gz(z.size());
    reference::cross_entropy_backward(N, K, z.data(), t.data(), 1.0, gz.data());
    expect_gradient(loss, z, gz, "cross_entropy scale " + std::to_string(scale));
  }
}

TEST(GradCheck, LeakyReLUAwayFromZero) {
  std::mt19937 rng(7);
  Vec x = random_vec(40, rng), r = random_vec(40, rng);
  for (auto& v : x)
    if (std::fabs(v) < 1e-3) v = -0.5;
  auto loss = [&](const Vec& xx) {
    Vec y(xx.size());
    reference::leaky_relu_forward<double>(40, 0.2, xx.data(), y.data());
    return dot(y, r);
  };
  Vec gx(x.size());
  reference::leaky_relu_backward<double>(40, 0.2, x.data(), r.data(), gx.data());
  expect_gradient(loss, x, gx, "leaky_relu");
}

TEST(GradCheck, AvgPool2dPaddingCeilModeAndDivisors) {
  std::mt19937 rng(8);
  struct Case {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
    bool ceil, include_pad;
  };
  for (const Case& k : {Case{2, 2, 7, 6, 2, 2, 2, 2, 0, 0, false, true},
                        Case{1, 2, 7, 9, 3, 3, 2, 2, 1, 1, true, false},
                        Case{1, 1, 7, 9, 3, 3, 2, 2, 1, 1, false, true},
                        Case{2, 1, 5, 8, 2, 3, 2, 2, 1, 0, true, true}}) {
    const auto g = pool2d_geometry({k.n, k.c, k.h, k.w}, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw,
                                   "gradcheck", k.ceil);
    Vec x = random_vec(static_cast<size_t>(k.n * k.c * k.h * k.w), rng);
    Vec r = random_vec(static_cast<size_t>(numel(g.output_shape())), rng);
    auto loss = [&](const Vec& xx) {
      Vec y(r.size());
      reference::avg_pool2d_forward(g, k.include_pad, xx.data(), y.data());
      return dot(y, r);
    };
    Vec gx(x.size(), 1e300);
    reference::avg_pool2d_backward(g, k.include_pad, r.data(), gx.data());
    expect_gradient(loss, x, gx, "avgpool");
  }
}

TEST(GradCheck, AdaptiveAvgPool2dAnyOutputSize) {
  std::mt19937 rng(9);
  for (auto [H, W, OH, OW] :
       {std::array<int64_t, 4>{5, 5, 1, 1}, {7, 5, 3, 2}, {9, 6, 4, 4}, {4, 4, 4, 4}}) {
    Vec x = random_vec(static_cast<size_t>(2 * H * W), rng),
        r = random_vec(static_cast<size_t>(2 * OH * OW), rng);
    auto loss = [&](const Vec& xx) {
      Vec y(r.size());
      reference::adaptive_avg_pool2d_forward(2, H, W, OH, OW, xx.data(), y.data());
      return dot(y, r);
    };
    Vec gx(x.size(), 1e300);
    reference::adaptive_avg_pool2d_backward(2, H, W, OH, OW, r.data(), gx.data());
    expect_gradient(loss, x, gx, "adaptive avgpool");
  }
}

TEST(GradCheck, BatchNormTrainingAndEvaluation) {
  std::mt19937 rng(10);
  for (auto [N, C, L] : {std::array<int64_t, 3>{3, 2, 5}, {4, 3, 1}, {2, 1, 7}}) {
    Vec x = random_vec(static_cast<size_t>(N * C * L), rng), r = random_vec(x.size(), rng);
    Vec gamma = random_vec(static_cast<size_t>(C), rng),
        beta = random_vec(static_cast<size_t>(C), rng);
    const double eps = 1e-3;
    // Training: the statistics are the batch's own, so they depend on x.
    auto train_loss = [&](const Vec& xx, const Vec& gg, const Vec& bb) {
      Vec mean(static_cast<size_t>(C)), var(static_cast<size_t>(C)), invstd(static_cast<size_t>(C)),
          y(xx.size());
      reference::batch_norm_statistics(N, C, L, xx.data(), mean.data(), var.data());
      for (int64_t c = 0; c < C; ++c) invstd[c] = 1 / std::sqrt(var[c] + eps);
      reference::batch_norm_normalize(N, C, L, xx.data(), mean.data(), invstd.data(), gg.data(),
                                      bb.data(), y.data());
      return dot(y, r);
    };
    Vec mean(static_cast<size_t>(C)), var(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
    reference::batch_norm_statistics(N, C, L, x.data(), mean.data(), var.data());
    for (int64_t c = 0; c < C; ++c) invstd[c] = 1 / std::sqrt(var[c] + eps);
    Vec gx(x.size(), 1e300), gg(static_cast<size_t>(C), 0.0), gb(static_cast<size_t>(C), 0.0);
    reference::batch_norm_backward(N, C, L, x.data(), mean.data(), invstd.data(), gamma.data(),
                                   r.data(), true, gx.data(), gg.data(), gb.data());
    expect_gradient([&](const Vec& v) { return train_loss(v, gamma, beta); }, x, gx, "bn train x");
    expect_gradient([&](const Vec& v) { return train_loss(x, v, beta); }, gamma, gg, "bn gamma");
    expect_gradient([&](const Vec& v) { return train_loss(x, gamma, v); }, beta, gb, "bn beta");
    // Evaluation: fixed (running) statistics.
    Vec rmean = random_vec(static_cast<size_t>(C), rng), rinv(static_cast<size_t>(C));
    for (auto& v : rinv) v = 0.5 + std::fabs(random_vec(1, rng)[0]);
    auto eval_loss = [&](const Vec& xx) {
      Vec y(xx.size());
      reference::batch_norm_normalize(N, C, L, xx.data(), rmean.data(), rinv.data(), gamma.data(),
                                      beta.data(), y.data());
      return dot(y, r);
    };
    Vec ge(x.size(), 1e300);
    reference::batch_norm_backward(N, C, L, x.data(), rmean.data(), rinv.data(), gamma.data(),
                                   r.data(), false, ge.data(), static_cast<double*>(nullptr),
                                   static_cast<double*>(nullptr));
    expect_gradient(eval_loss, x, ge, "bn eval x");
  }
}
