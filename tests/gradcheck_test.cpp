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
