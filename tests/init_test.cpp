#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "convlab/nn/conv2d.h"
#include "fixture.h"

using namespace convlab;

namespace {

// Compares a parameter with a sampled PyTorch record: head and tail bit for bit, sum to 1e-9.
void expect_same_as_pytorch(const Tensor& t, const nlohmann::json& rec, const std::string& what) {
  ASSERT_EQ(t.shape(), rec.at("shape").get<Shape>()) << what;
  const auto head = rec.at("head").get<std::vector<float>>();
  const auto tail = rec.at("tail").get<std::vector<float>>();
  for (size_t i = 0; i < head.size(); ++i)
    ASSERT_EQ(t.data()[i], head[i]) << what << " head[" << i << "]";
  const int64_t off = t.numel() - static_cast<int64_t>(tail.size());
  for (size_t i = 0; i < tail.size(); ++i)
    ASSERT_EQ(t.data()[off + static_cast<int64_t>(i)], tail[i]) << what;
  double sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
  EXPECT_NEAR(sum, rec.at("sum").get<double>(), 1e-9 * static_cast<double>(t.numel())) << what;
}

}  // namespace

// The same seed gives PyTorch's own initial weights: torch.manual_seed(s); nn.Conv2d(...).
TEST(Init, Conv2dMatchesPyTorchBitForBit) {
  const auto fixture = test::load_fixture("init.json");
  int checked = 0;
  for (const auto& c : fixture.at("cases")) {
    if (c.at("layer") != "Conv2d") continue;
    Generator gen(c.at("seed").get<uint64_t>());
    nn::Conv2d conv(nn::Conv2dOptions(c["in"], c["out"], {c["kernel"][0], c["kernel"][1]}), gen);
    expect_same_as_pytorch(conv.weight(), c["weight"], conv.repr() + ".weight");
    expect_same_as_pytorch(conv.bias(), c["bias"], conv.repr() + ".bias");
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

// Over many draws the values fill +-1/sqrt(fan_in) uniformly: range, mean and variance.
TEST(Init, Conv2dDistributionFollowsPyTorchRule) {
  Generator gen(5);
  const int64_t cin = 8, k = 3;
  const double bound = 1.0 / std::sqrt(static_cast<double>(cin * k * k));
  std::vector<float> w, b;
  for (int draw = 0; draw < 200; ++draw) {
    nn::Conv2d conv(nn::Conv2dOptions(cin, 16, k), gen);
    w.insert(w.end(), conv.weight().data(), conv.weight().data() + conv.weight().numel());
    b.insert(b.end(), conv.bias().data(), conv.bias().data() + conv.bias().numel());
  }
  for (const auto* v : {&w, &b}) {
    double lo = 1e9, hi = -1e9, mean = 0, sq = 0;
    for (float x : *v) {
      lo = std::min<double>(lo, x);
      hi = std::max<double>(hi, x);
      mean += x;
      sq += static_cast<double>(x) * x;
    }
    const double n = static_cast<double>(v->size());
    mean /= n;
    const double var = sq / n - mean * mean;
    EXPECT_GE(lo, -bound);
    EXPECT_LT(hi, bound);
    EXPECT_LT(lo, -0.98 * bound);  // the whole range is used
    EXPECT_GT(hi, 0.98 * bound);
    EXPECT_NEAR(mean, 0.0, 4 * bound / std::sqrt(3.0 * n));             // 4 standard errors
    EXPECT_NEAR(var, bound * bound / 3.0, 0.05 * bound * bound / 3.0);  // uniform variance b^2/3
  }
}

TEST(Init, SameSeedSameWeightsOtherSeedOtherWeights) {
  Generator g1(9), g2(9), g3(10);
  nn::Conv2d a(nn::Conv2dOptions(3, 8, 3), g1), b(nn::Conv2dOptions(3, 8, 3), g2),
      c(nn::Conv2dOptions(3, 8, 3), g3);
  EXPECT_EQ(max_abs_diff(a.weight(), b.weight()), 0.0);
  EXPECT_EQ(max_abs_diff(a.bias(), b.bias()), 0.0);
  EXPECT_GT(max_abs_diff(a.weight(), c.weight()), 0.0);
}
