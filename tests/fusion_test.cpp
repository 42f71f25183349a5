// The direct stride-1 convolution on every instruction set this CPU has, against the reference;
// and the fused Conv2d -> ReLU [-> MaxPool2d(2)] against the separate layers, bit for bit.
#include <gtest/gtest.h>

#include "test_util.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "../src/ops/conv2d_lanes.h"  // which kernel a layer reaches is internal
#include "../src/ops/conv2d_pointwise.h"
#include "../src/ops/conv2d_polyphase.h"
#include "../src/ops/conv2d_winograd3x3.h"
#include "../src/ops/conv2d_winograd_f2x2.h"
#include "../src/ops/scratch.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/nn/sequential.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/ops/reference.h"
#include "convlab/optim/optimizer.h"

using namespace convlab;
using test::random_tensor;
using test::same_bits;

namespace {

// Every instruction set up to the CPU's best, each made active in turn; restores the best.
std::vector<kernels::Isa> every_isa() {
  std::vector<kernels::Isa> all;
  for (auto isa : {kernels::Isa::generic, kernels::Isa::avx2, kernels::Isa::avx512})
    if (isa <= kernels::best_isa()) all.push_back(isa);
  return all;
}

struct IsaGuard {
  ~IsaGuard() { kernels::set_isa_limit(kernels::Isa::avx512); }
};

// Three Adam steps on random batches of `batch` (shape) with random labels 0..9, from seed 6.
void train_three_steps(nn::Sequential& model, double lr, const Shape& batch) {
  optim::Adam opt(model.parameters(), optim::AdamOptions{.lr = lr});
  nn::CrossEntropyLoss loss;
  std::mt19937 rng(6);
  Tensor grad;
  for (int step = 0; step < 3; ++step) {
    const Tensor x = random_tensor(batch, rng);
    std::vector<int64_t> y(static_cast<size_t>(batch[0]));
    for (auto& v : y) v = static_cast<int64_t>(rng() % 10);
    opt.zero_grad();
    loss.forward(model.forward(x), y);
    loss.backward(grad);
    model.backward(grad);
    opt.step();
  }
}

// Every parameter and buffer of the model drawn from rng: running variances in [0.5, 1.5), the
// rest in [-1, 1) (running statistics and affine parameters away from their initial 0 / 1).
void randomize_state(nn::Sequential& model, std::mt19937& rng) {
  for (const auto& t : nn::state_dict(model))
    if (!t.integer)
      for (int64_t k = 0; k < t.value->numel(); ++k)
        t.value->data()[k] = t.name.find("running_var") != std::string::npos
                                 ? 0.5f + std::uniform_real_distribution<float>(0, 1)(rng)
                                 : std::uniform_real_distribution<float>(-1, 1)(rng);
}

// The model of `text` (initialised from seed), its state then drawn from rng as above, in
// evaluation mode.
std::shared_ptr<nn::Sequential> evaluation_model(const std::string& text, uint64_t seed,
                                                 std::mt19937& rng) {
  Generator gen(seed);
  auto model = nn::parse_model(text, "m.txt", gen);
  randomize_state(*model, rng);
  model->eval();
  return model;
}

}  // namespace

TEST(ConvDirect, MatchesReferenceOnEveryInstructionSet) {
  IsaGuard guard;
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    std::mt19937 rng(2024);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int trial = 0; trial < 40; ++trial) {
      // Stride 1, kernels up to 7 wide, widths that leave vector tails (up to 40 columns).
      const int n = pick(1, 3), c = pick(1, 9), o = pick(1, 19), kh = pick(1, 5), kw = pick(1, 7);
      const int ph = pick(0, kh - 1), pw = pick(0, kw - 1);
      const int h = std::max(kh - 2 * ph, 1) + pick(0, 9),
                w = std::max(kw - 2 * pw, 1) + pick(0, 33);
      const Tensor x = random_tensor({n, c, h, w}, rng), wt = random_tensor({o, c, kh, kw}, rng);
      const Tensor b = random_tensor({o}, rng);
      const auto g = conv2d_geometry(x.shape(), wt.shape(), 1, 1, ph, pw, "test");
      Tensor ref(g.output_shape()), fast(g.output_shape(), 1e30f);
      reference::conv2d_forward(g, x.data(), wt.data(), b.data(), ref.data());
      kernels::conv2d_forward(g, x.data(), wt.data(), b.data(), fast.data());
      ASSERT_TRUE(allclose(fast, ref, 1e-4, 1e-4))
          << kernels::isa_name(isa) << " trial " << trial << " diff " << max_abs_diff(fast, ref);
      const Tensor gy = random_tensor(g.output_shape(), rng);
      Tensor gx_ref(x.shape()), gw_ref(wt.shape(), 0.5f), gb_ref({o}, 0.25f);
      Tensor gx(x.shape(), 1e30f), gw(wt.shape(), 0.5f), gb({o}, 0.25f);
      reference::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx_ref.data(), gw_ref.data(),
                                 gb_ref.data());
      kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx.data(), gw.data(), gb.data());
      ASSERT_TRUE(allclose(gx, gx_ref, 1e-4, 1e-4)) << kernels::isa_name(isa) << " " << trial;
      ASSERT_TRUE(allclose(gw, gw_ref, 1e-4, 1e-3)) << kernels::isa_name(isa) << " " << trial;
      ASSERT_TRUE(allclose(gb, gb_ref, 1e-4, 1e-3)) << kernels::isa_name(isa) << " " << trial;
    }
  }
}

// Strided convolutions (the polyphase form where it applies, GEMM elsewhere) against the
// reference on every instruction set, and the same bits at 1 and 2 threads.
TEST(ConvStrided, MatchesReferenceOnEveryInstructionSetAndThreadCount) {
  IsaGuard guard;
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    std::mt19937 rng(909);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int trial = 0; trial < 40; ++trial) {
      const int n = pick(1, 3), c = pick(1, 7), o = pick(1, 19), kh = pick(1, 7), kw = pick(1, 7);
      const int sh = pick(1, 3), sw = trial % 4 == 0 ? 1 : pick(2, 3);
      const int ph = pick(0, (kh - 1) / 2 + 1), pw = pick(0, (kw - 1) / 2 + 1);
      const int h = std::max(kh - 2 * ph, 1) + pick(0, 12),
                w = std::max(kw - 2 * pw, 1) + pick(0, 40);
      const Tensor x = random_tensor({n, c, h, w}, rng), wt = random_tensor({o, c, kh, kw}, rng);
      const Tensor b = random_tensor({o}, rng), gy_seed = random_tensor({1}, rng);
      const auto g = conv2d_geometry(x.shape(), wt.shape(), sh, sw, ph, pw, "test");
      const Tensor gy = random_tensor(g.output_shape(), rng);
      Tensor ref(g.output_shape()), gx_ref(x.shape()), gw_ref(wt.shape(), 0.5f), gb_ref({o}, 0.25f);
      reference::conv2d_forward(g, x.data(), wt.data(), b.data(), ref.data());
      reference::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx_ref.data(), gw_ref.data(),
                                 gb_ref.data());
      Tensor first[4];
      for (int threads = 1; threads <= 2; ++threads) {
        ThreadPool pool(threads);
        PoolScope scope(&pool);
        Tensor fast(g.output_shape(), 1e30f), gx(x.shape(), 1e30f), gw(wt.shape(), 0.5f),
            gb({o}, 0.25f);
        kernels::conv2d_forward(g, x.data(), wt.data(), b.data(), fast.data());
        kernels::conv2d_backward(g, x.data(), wt.data(), gy.data(), gx.data(), gw.data(),
                                 gb.data());
        const std::string where = std::string(kernels::isa_name(isa)) + " trial " +
                                  std::to_string(trial) + " " + to_string(x.shape()) + " k " +
                                  std::to_string(kh) + "x" + std::to_string(kw) + " s " +
                                  std::to_string(sh) + "x" + std::to_string(sw);
        ASSERT_TRUE(allclose(fast, ref, 1e-4, 1e-4)) << where << " " << max_abs_diff(fast, ref);
        ASSERT_TRUE(allclose(gx, gx_ref, 1e-4, 1e-4)) << where;
        ASSERT_TRUE(allclose(gw, gw_ref, 1e-4, 1e-3)) << where;
        ASSERT_TRUE(allclose(gb, gb_ref, 1e-4, 1e-3)) << where;
        if (threads == 1) {
          first[0] = fast, first[1] = gx, first[2] = gw, first[3] = gb;
        } else {
          ASSERT_TRUE(same_bits(fast, first[0]) && same_bits(gx, first[1]) &&
                      same_bits(gw, first[2]) && same_bits(gb, first[3]))
              << where;
        }
      }
    }
  }
}

// Fused forward and backward equal conv2d -> relu -> max_pool2d (and their backward passes in
// reverse) bit for bit, on odd and even sizes, with and without pooling, at 1 and 2 threads.
TEST(ConvFusion, EqualsTheSeparateLayersBitForBit) {
  IsaGuard guard;
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    std::mt19937 rng(77);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int trial = 0; trial < 30; ++trial) {
      const int n = pick(1, 3), c = pick(1, 6), o = pick(1, 18), k = pick(1, 5);
      const int pad = pick(0, k - 1), h = std::max(k - 2 * pad, 2) + pick(0, 20),
                w = std::max(k - 2 * pad, 2) + pick(0, 40);
      const bool pool = trial % 3 != 0;
      ThreadPool threads(1 + trial % 2);
      PoolScope scope(&threads);
      const Tensor x = random_tensor({n, c, h, w}, rng), wt = random_tensor({o, c, k, k}, rng);
      const Tensor b = random_tensor({o}, rng);
      const auto g = conv2d_geometry(x.shape(), wt.shape(), 1, 1, pad, pad, "test");
      if (pool && (g.OH < 2 || g.OW < 2)) continue;
      // Separate layers.
      Tensor z(g.output_shape()), r(g.output_shape());
      kernels::conv2d_forward(g, x.data(), wt.data(), b.data(), z.data());
      kernels::relu_forward(z.numel(), z.data(), r.data());
      Tensor y = r;
      const auto pg = pool2d_geometry(r.shape(), 2, 2, 2, 2, 0, 0, "test");
      if (pool) {
        y = Tensor(pg.output_shape());
        kernels::max_pool2d_forward(pg, r.data(), y.data());
      }
      const Tensor gy = random_tensor(y.shape(), rng);
      Tensor gr = gy, gz(z.shape()), gx(x.shape()), gw(wt.shape(), 0.5f), gb({o}, 0.25f);
      if (pool) {
        gr = Tensor(r.shape());
        kernels::max_pool2d_backward(pg, r.data(), gy.data(), gr.data());
      }
      kernels::relu_backward(z.numel(), z.data(), gr.data(), gz.data());
      kernels::conv2d_backward(g, x.data(), wt.data(), gz.data(), gx.data(), gw.data(), gb.data());
      // Fused.
      const kernels::ConvFusion f{true, pool};
      ASSERT_TRUE(kernels::conv2d_fusion_applies(g, f));
      Tensor fy(y.shape(), 1e30f), fgx(x.shape(), 1e30f), fgw(wt.shape(), 0.5f), fgb({o}, 0.25f);
      std::vector<uint8_t> arg(static_cast<size_t>(y.numel()), 9);
      kernels::conv2d_forward_fused(g, f, x.data(), wt.data(), b.data(), fy.data(), arg.data());
      kernels::conv2d_backward_fused(g, f, x.data(), wt.data(), fy.data(), arg.data(), gy.data(),
                                     fgx.data(), fgw.data(), fgb.data());
      const std::string where = std::string(kernels::isa_name(isa)) + " trial " +
                                std::to_string(trial) + (pool ? " (pool)" : " (relu)");
      EXPECT_TRUE(same_bits(fy, y)) << where;
      EXPECT_TRUE(same_bits(fgx, gx)) << where;
      EXPECT_TRUE(same_bits(fgw, gw)) << where;
      EXPECT_TRUE(same_bits(fgb, gb)) << where;
    }
  }
}

// Sequential with fusion on trains to the same bits as with it off; the outputs it does not keep
// are an error to ask for, not stale numbers.
TEST(ConvFusion, SequentialTrainsIdenticallyFusedOrNot) {
  std::vector<std::vector<Tensor>> finals;
  for (bool fused : {false, true}) {
    Generator gen(5);
    auto model = nn::build_model("standard", gen);
    model->set_fusion(fused);
    train_three_steps(*model, 1e-3, {8, 3, 32, 32});
    std::vector<Tensor> params;
    for (auto* p : model->parameters()) params.push_back(p->value);
    finals.push_back(params);
    if (fused) {
      EXPECT_NE(test::error_of([&] { model->activation(0); }).find("not kept"), std::string::npos);
      EXPECT_EQ(model->activation(4).shape(), (Shape{8, 16, 16, 16}));  // the pooled output
      // Flatten and Linear in one step: the Linear reads the pooled output in place.
      EXPECT_NE(test::error_of([&] { model->activation(5); }).find("not kept"), std::string::npos);
      EXPECT_EQ(model->activation(6).shape(), (Shape{8, 64}));
    } else {
      EXPECT_EQ(model->activation(0).shape(), (Shape{8, 8, 32, 32}));
    }
  }
  ASSERT_EQ(finals[0].size(), finals[1].size());
  for (size_t i = 0; i < finals[0].size(); ++i)
    EXPECT_TRUE(same_bits(finals[0][i], finals[1][i])) << "parameter " << i;
}

namespace {
// A model trained three steps with fusion off and on ends with the same bits, and so does its
// evaluation with the folded Conv2d -> BatchNorm -> ReLU, also on an input with a NaN pixel
// (fused ReLUs must zero it too).
void expect_fusion_keeps_bits(const std::string& text, const Shape& input) {
  std::vector<std::vector<Tensor>> finals;
  for (bool fused : {false, true}) {
    Generator gen(5);
    auto model = nn::parse_model(text, "m.txt", gen);
    model->set_fusion(fused);
    train_three_steps(*model, 1e-2, input);
    std::vector<Tensor> params;
    for (const auto& t : nn::state_dict(*model)) params.push_back(*t.value);
    finals.push_back(params);
    if (fused) {
      model->eval();
      std::mt19937 rng(4);
      for (bool special : {false, true}) {
        Tensor x = random_tensor(input, rng);
        if (special) x.data()[40] = std::nanf("");
        model->set_fusion(false);
        const Tensor plain = model->forward(x);
        nn::InferenceScope inference(*model);
        EXPECT_TRUE(same_bits(model->forward(x), plain)) << "NaN input: " << special;
      }
    }
  }
  ASSERT_EQ(finals[0].size(), finals[1].size());
  for (size_t i = 0; i < finals[0].size(); ++i)
    EXPECT_TRUE(same_bits(finals[0][i], finals[1][i])) << "state " << i;
}
}  // namespace

// The channel-lane convolutions (strided, 1x1 and small-plane layers of 16 channels or more) fuse
// a following ReLU (pooling runs separately) and, in inference, a BatchNorm.
TEST(ConvFusion, ChannelLaneLayersFuseReluAndBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(16, 24, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (3): ReLU()\n"
      "  (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (5): Conv2d(24, 20, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "  (6): BatchNorm2d(20)\n"
      "  (7): ReLU()\n"
      "  (8): Flatten(start_dim=1, end_dim=-1)\n"
      "  (9): Linear(in_features=60, out_features=10, bias=True)\n"
      ")\n";
  // Planes 3x6 after the stride-2 layer (3x3 stride-1 layers of 4 rows and more go to Winograd,
  // below), 1x3 after pooling.
  const auto g0 = conv2d_geometry({6, 3, 6, 12}, {16, 3, 3, 3}, 2, 2, 1, 1, "test");
  const auto g1 = conv2d_geometry({6, 16, 3, 6}, {24, 16, 3, 3}, 1, 1, 1, 1, "test");
  if (kernels::active_isa() == kernels::Isa::avx512) {  // the layers this test is about
    ASSERT_TRUE(kernels::conv2d_fusion_applies(g0, {true, false}));
    ASSERT_TRUE(kernels::conv2d_fusion_applies(g1, {true, false}));
    ASSERT_FALSE(kernels::conv2d_fusion_applies(g1, {true, true}));
  }
  expect_fusion_keeps_bits(text, {6, 3, 6, 12});
}

// 1x1 convolutions at stride 1 on planes of 64 pixels or more run as matrix products on the NCHW
// planes (conv2d_pointwise.cpp) and fuse a following ReLU and, in inference, a BatchNorm: 20 rows
// (two blocks of 8 and a block of 4) on 16 x 16, 24 on 8 x 8 after pooling, 14 x 14 in another
// model (196 pixels: the last vector masked).
TEST(ConvFusion, PointwiseLayersFuseReluAndBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(16, 20, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(20)\n"
      "  (2): ReLU()\n"
      "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (4): Conv2d(20, 24, kernel_size=(1, 1), stride=(1, 1))\n"
      "  (5): ReLU()\n"
      "  (6): Flatten(start_dim=1, end_dim=-1)\n"
      "  (7): Linear(in_features=1536, out_features=10, bias=True)\n"
      ")\n";
  const auto g0 = conv2d_geometry({6, 16, 16, 16}, {20, 16, 1, 1}, 1, 1, 0, 0, "test");
  const auto g4 = conv2d_geometry({6, 20, 8, 8}, {24, 20, 1, 1}, 1, 1, 0, 0, "test");
  const auto g14 = conv2d_geometry({3, 16, 14, 14}, {20, 16, 1, 1}, 1, 1, 0, 0, "test");
  if (kernels::active_isa() == kernels::Isa::avx512) {  // the layers this test is about
    ASSERT_TRUE(kernels::pointwise_conv_applies(g0));
    ASSERT_TRUE(kernels::pointwise_conv_applies(g4));
    ASSERT_TRUE(kernels::pointwise_conv_applies(g14));
    ASSERT_TRUE(kernels::conv2d_fusion_applies(g4, {true, false}));
  }
  expect_fusion_keeps_bits(text, {6, 16, 16, 16});
  const std::string text14 =
      "Sequential(\n"
      "  (0): Conv2d(16, 20, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(20)\n"
      "  (2): ReLU()\n"
      "  (3): Flatten(start_dim=1, end_dim=-1)\n"
      "  (4): Linear(in_features=3920, out_features=10, bias=True)\n"
      ")\n";
  expect_fusion_keeps_bits(text14, {3, 16, 14, 14});
}

namespace {

// The model on x layer by layer, then in inference with its convolutions chained, at 1 and 2
// threads: the same bits. The kernels' scratch is filled with NaN first (on this thread: all of it
// at 1 thread), so that a zero border a chain fails to write shows. With `chained`, the outputs
// of the chains' first steps (`unkept`) are not kept and a backward pass is refused.
void expect_chains_keep_bits(nn::Sequential& model, const Tensor& x, bool chained,
                             std::initializer_list<size_t> unkept) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    PoolScope scope(&pool);
    model.set_fusion(false);
    const Tensor plain = model.forward(x);
    for (int slot = 0; slot < 4; ++slot) {
      float* junk = kernels::scratch(slot, 1 << 18);
      std::fill(junk, junk + (1 << 18), std::nanf(""));
    }
    nn::InferenceScope inference(model);
    const Tensor out = model.forward(x);
    EXPECT_TRUE(same_bits(out, plain)) << x.size(0) << " images, " << threads << " threads";
    if (!chained) continue;
    for (size_t first_of_chain : unkept)
      EXPECT_NE(test::error_of([&] { model.activation(first_of_chain); }).find("not kept"),
                std::string::npos)
          << first_of_chain;
    EXPECT_NE(test::error_of([&] {
                model.backward(Tensor(out.shape(), 1.0f));
              }).find("two convolutions chained"),
              std::string::npos);
  }
}

}  // namespace

// In inference, a fused channel-lane convolution whose output only feeds the next channel-lane
// convolution hands it over in cache (never written out): the same bits as the layers one by one,
// whether either has a ReLU and BatchNorm fused, a plain bias, padding or none, output channels
// a multiple of 32 or not, at 1 and 2 threads, with a NaN pixel, and batches of 2 and 8. The
// first writes its pixels straight into the second's zero-bordered copy. The intermediate output
// is not kept, and a backward pass is refused.
TEST(ConvFusion, InferenceChainsChannelLaneConvolutionsBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(32, 40, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
      "  (3): BatchNorm2d(40)\n"
      "  (4): ReLU()\n"
      "  (5): Conv2d(40, 24, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "  (6): BatchNorm2d(24)\n"
      "  (7): ReLU()\n"
      "  (8): Conv2d(24, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (9): Flatten(start_dim=1, end_dim=-1)\n"
      "  (10): Linear(in_features=144, out_features=10, bias=True)\n"
      ")\n";
  std::mt19937 rng(13);
  auto model = evaluation_model(text, 12, rng);
  for (int64_t batch : {2, 8}) {
    const auto g0 = conv2d_geometry({batch, 3, 12, 12}, {32, 3, 3, 3}, 2, 2, 1, 1, "test");
    const auto g2 = conv2d_geometry(g0.output_shape(), {40, 32, 3, 3}, 2, 2, 1, 1, "test");
    const auto g5 = conv2d_geometry(g2.output_shape(), {24, 40, 1, 1}, 1, 1, 0, 0, "test");
    const auto g8 = conv2d_geometry(g5.output_shape(), {16, 24, 3, 3}, 1, 1, 1, 1, "test");
    const bool lanes = kernels::active_isa() == kernels::Isa::avx512;
    EXPECT_EQ(kernels::conv2d_chain_applies(g0, {true, false}, g2, {true, false}), lanes);
    EXPECT_EQ(kernels::conv2d_chain_applies(g5, {true, false}, g8, {}), lanes);
    EXPECT_FALSE(kernels::conv2d_chain_applies(g0, {true, false}, g5, {}));  // not its input
    Tensor x = random_tensor({batch, 3, 12, 12}, rng);
    x.data()[40] = std::nanf("");
    expect_chains_keep_bits(*model, x, lanes, {1, 7});  // conv 0 -> conv 2, conv 5 -> conv 8
  }
}

// A 1x1 layer on a plane of 64 pixels runs alone as a matrix product on its planes
// (conv2d_pointwise.cpp) and chained with the channel-lane kernel: the same bits either way.
TEST(ConvFusion, InferenceChainsIntoPointwiseLayersBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(32, 40, kernel_size=(1, 1), stride=(1, 1))\n"
      "  (3): BatchNorm2d(40)\n"
      "  (4): ReLU()\n"
      "  (5): Flatten(start_dim=1, end_dim=-1)\n"
      "  (6): Linear(in_features=2560, out_features=10, bias=True)\n"
      ")\n";
  std::mt19937 rng(16);
  auto model = evaluation_model(text, 17, rng);
  const auto g0 = conv2d_geometry({8, 3, 16, 16}, {32, 3, 3, 3}, 2, 2, 1, 1, "test");
  const auto g2 = conv2d_geometry(g0.output_shape(), {40, 32, 1, 1}, 1, 1, 0, 0, "test");
  const bool lanes = kernels::active_isa() == kernels::Isa::avx512;
  EXPECT_EQ(kernels::pointwise_conv_applies(g2), lanes);
  EXPECT_EQ(kernels::conv2d_chain_applies(g0, {true, false}, g2, {true, false}), lanes);
  Tensor x = random_tensor({8, 3, 16, 16}, rng);
  x.data()[40] = std::nanf("");
  expect_chains_keep_bits(*model, x, lanes, {1});  // conv 0 -> conv 2
  // ... and at stride 2 (16 x 16 -> 8 x 8, two rows a vector): the chain's second step, on the
  // channel lanes, has the pointwise kernel's sums
  const std::string strided =
      "Sequential(\n"
      "  (0): Conv2d(3, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(32, 40, kernel_size=(1, 1), stride=(2, 2))\n"
      "  (3): BatchNorm2d(40)\n"
      "  (4): ReLU()\n"
      "  (5): Flatten(start_dim=1, end_dim=-1)\n"
      "  (6): Linear(in_features=2560, out_features=10, bias=True)\n"
      ")\n";
  auto model2 = evaluation_model(strided, 18, rng);
  const auto s0 = conv2d_geometry({8, 3, 32, 32}, {32, 3, 3, 3}, 2, 2, 1, 1, "test");
  const auto s2 = conv2d_geometry(s0.output_shape(), {40, 32, 1, 1}, 2, 2, 0, 0, "test");
  EXPECT_EQ(kernels::pointwise_conv_applies(s2), lanes);
  EXPECT_EQ(kernels::conv2d_chain_applies(s0, {true, false}, s2, {true, false}), lanes);
  Tensor x2 = random_tensor({8, 3, 32, 32}, rng);
  x2.data()[40] = std::nanf("");
  expect_chains_keep_bits(*model2, x2, lanes, {1});
}

// Winograd F(4x4, 3x3) layers chain too (a residual body's two convolutions): the first's output
// handed to the second pixel-major, into its zero-bordered plane. The same bits as the layers one
// by one, with BatchNorm folded into both or a bias and ReLU, padding 0 to 2, planes of 9 x 11 and
// 7 x 9 (tiles past the plane), 16 to 32 channels, a NaN pixel, 1 and 2 threads, batches of 4 and
// 8, scratch poisoned with NaN.
TEST(ConvFusion, InferenceChainsWinogradConvolutionsBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(32)\n"
      "  (2): ReLU()\n"
      "  (3): Conv2d(32, 24, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (4): BatchNorm2d(24)\n"
      "  (5): Conv2d(24, 16, kernel_size=(3, 3), stride=(1, 1))\n"
      "  (6): ReLU()\n"
      "  (7): Conv2d(16, 20, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))\n"
      "  (8): Flatten(start_dim=1, end_dim=-1)\n"
      "  (9): Linear(in_features=1980, out_features=10, bias=True)\n"
      ")\n";
  std::mt19937 rng(14);
  auto model = evaluation_model(text, 15, rng);
  for (int64_t batch : {4, 8}) {
    const auto g0 = conv2d_geometry({batch, 16, 9, 11}, {32, 16, 3, 3}, 1, 1, 1, 1, "test");
    const auto g3 = conv2d_geometry(g0.output_shape(), {24, 32, 3, 3}, 1, 1, 1, 1, "test");
    const auto g5 = conv2d_geometry(g3.output_shape(), {16, 24, 3, 3}, 1, 1, 0, 0, "test");
    const auto g7 = conv2d_geometry(g5.output_shape(), {20, 16, 3, 3}, 1, 1, 2, 2, "test");
    const bool avx512 = kernels::active_isa() == kernels::Isa::avx512;
    for (const auto* g : {&g0, &g3, &g5, &g7})
      EXPECT_EQ(kernels::winograd3x3_conv_applies(*g), avx512);
    EXPECT_EQ(kernels::conv2d_chain_applies(g0, {true, false}, g3, {}), avx512);
    EXPECT_EQ(kernels::conv2d_chain_applies(g5, {true, false}, g7, {}), avx512);
    EXPECT_FALSE(kernels::conv2d_chain_applies(g0, {true, false}, g5, {}));  // not its input
    Tensor x = random_tensor({batch, 16, 9, 11}, rng);
    x.data()[57] = std::nanf("");
    expect_chains_keep_bits(*model, x, avx512, {2, 6});  // conv 0 -> conv 3, conv 5 -> conv 7
  }
}

// ... and so they do on a batch of one image split into runs of pixels across tasks (each run
// applies its own part of the epilogue).
TEST(ConvFusion, ChannelLaneRunsOfOneImageFuseBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 40, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)\n"
      "  (1): BatchNorm2d(40)\n"
      "  (2): ReLU()\n"
      "  (3): AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "  (4): Flatten(start_dim=1, end_dim=-1)\n"
      "  (5): Linear(in_features=40, out_features=10, bias=True)\n"
      ")\n";
  const auto g = conv2d_geometry({1, 3, 64, 64}, {40, 3, 7, 7}, 2, 2, 3, 3, "test");
  if (kernels::active_isa() == kernels::Isa::avx512) {
    ASSERT_TRUE(kernels::conv2d_fusion_applies(g, {true, false}));
  }
  expect_fusion_keeps_bits(text, {1, 3, 64, 64});
}

// Channel-lane layers with few output pixels in the batch and many output channels pack their
// weights a pair of blocks per task (lanes_weights_stationary) and fuse BatchNorm and ReLU there:
// 136 and 130 channels (last blocks of 8 and 2 channels), 25 and 4 pixels an image, 3 images
// (blocks of pixels across images) and 1. The pooling keeps the two layers out of a chain.
TEST(ConvFusion, WeightStationaryLanesFuseBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(16, 136, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(136)\n"
      "  (2): ReLU()\n"
      "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (4): Conv2d(136, 130, kernel_size=(1, 1), stride=(1, 1), bias=False)\n"
      "  (5): BatchNorm2d(130)\n"
      "  (6): ReLU()\n"
      "  (7): Flatten(start_dim=1, end_dim=-1)\n"
      "  (8): Linear(in_features=520, out_features=10, bias=True)\n"
      ")\n";
  for (const int64_t n : {3, 1}) {
    const auto g0 = conv2d_geometry({n, 16, 10, 10}, {136, 16, 3, 3}, 2, 2, 1, 1, "test");
    const auto g1 = conv2d_geometry({n, 136, 2, 2}, {130, 136, 1, 1}, 1, 1, 0, 0, "test");
    if (kernels::active_isa() == kernels::Isa::avx512) {
      ASSERT_TRUE(kernels::lanes_weights_stationary(g0));
      ASSERT_TRUE(kernels::lanes_weights_stationary(g1));
      ASSERT_TRUE(kernels::conv2d_fusion_applies(g0, {true, false}));
      ASSERT_TRUE(kernels::conv2d_fusion_applies(g1, {true, false}));
    }
    expect_fusion_keeps_bits(text, {n, 16, 10, 10});
  }
}

// The direct kernel's fused BatchNorm, ReLU and pooling on a batch of one image whose output
// channels run as two tasks (32 + 28).
TEST(ConvFusion, DirectRunsOfOneImageFuseBatchNormAndPoolingBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 60, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)\n"
      "  (1): BatchNorm2d(60)\n"
      "  (2): ReLU()\n"
      "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (4): Flatten(start_dim=1, end_dim=-1)\n"
      "  (5): Linear(in_features=15360, out_features=10, bias=True)\n"
      ")\n";
  const auto g = conv2d_geometry({1, 3, 32, 32}, {60, 3, 5, 5}, 1, 1, 2, 2, "test");
  ASSERT_TRUE(kernels::conv2d_fusion_applies(g, {true, true}));
  expect_fusion_keeps_bits(text, {1, 3, 32, 32});
  // Without the BatchNorm, training runs the fused convolution, ReLU and pooling too (the pooling's
  // window positions, kept per run, drive the backward pass).
  const std::string plain =
      "Sequential(\n"
      "  (0): Conv2d(3, 60, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n"
      "  (1): ReLU()\n"
      "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (3): Flatten(start_dim=1, end_dim=-1)\n"
      "  (4): Linear(in_features=15360, out_features=10, bias=True)\n"
      ")\n";
  expect_fusion_keeps_bits(plain, {1, 3, 32, 32});
}

// Winograd F(4x4, 3x3) (3x3 stride-1 layers of 16 channels and more) fuses a following ReLU and,
// in inference, a BatchNorm, on channel counts that fill one vector and part of one.
TEST(ConvFusion, Winograd3x3LayersFuseReluAndBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(16, 24, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (3): ReLU()\n"
      "  (4): Conv2d(24, 20, kernel_size=(3, 3), stride=(1, 1), bias=False)\n"
      "  (5): BatchNorm2d(20)\n"
      "  (6): ReLU()\n"
      "  (7): Flatten(start_dim=1, end_dim=-1)\n"
      "  (8): Linear(in_features=480, out_features=10, bias=True)\n"
      ")\n";
  const auto g2 = conv2d_geometry({8, 16, 6, 8}, {24, 16, 3, 3}, 1, 1, 1, 1, "test");
  const auto g4 = conv2d_geometry({8, 24, 6, 8}, {20, 24, 3, 3}, 1, 1, 0, 0, "test");
  if (kernels::active_isa() == kernels::Isa::avx512) {  // the layers this test is about
    ASSERT_TRUE(kernels::winograd3x3_conv_applies(g2));
    ASSERT_TRUE(kernels::winograd3x3_conv_applies(g4));
    ASSERT_TRUE(kernels::conv2d_fusion_applies(g2, {true, false}));
    ASSERT_FALSE(kernels::conv2d_fusion_applies(g2, {true, true}));
    // F(2x2, 5x5) fuses nothing: a 5x5 layer on 16 columns, which the channel-lane rule also
    // takes, must not run on those kernels when fused (it did once, at 0.7 times the speed).
    const auto g5 = conv2d_geometry({4, 32, 16, 16}, {32, 32, 5, 5}, 1, 1, 2, 2, "test");
    ASSERT_TRUE(kernels::winograd_f2x2_conv_applies(g5));
    ASSERT_FALSE(kernels::conv2d_fusion_applies(g5, {true, false}));
    const auto g7 = conv2d_geometry({4, 16, 16, 16}, {32, 16, 7, 7}, 1, 1, 3, 3, "test");
    ASSERT_TRUE(kernels::winograd_f2x2_conv_applies(g7));  // and 7x7
    ASSERT_FALSE(kernels::conv2d_fusion_applies(g7, {true, false}));
  }
  expect_fusion_keeps_bits(text, {8, 3, 6, 8});
}

// 5x5 layers at stride 2 on their polyphase form's Winograd F(4x4, 3x3) fuse ReLU and, in
// inference, BatchNorm, as they run unfused (not on the channel-lane kernels, which the rule for
// strided layers also takes), and chain with nothing.
TEST(ConvFusion, PolyphaseWinogradLayersFuseReluAndBatchNormBitForBit) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(8, 32, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))\n"
      "  (1): ReLU()\n"
      "  (2): Conv2d(32, 20, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2), bias=False)\n"
      "  (3): BatchNorm2d(20)\n"
      "  (4): ReLU()\n"
      "  (5): Flatten(start_dim=1, end_dim=-1)\n"
      "  (6): Linear(in_features=1280, out_features=10, bias=True)\n"
      ")\n";
  const auto g0 = conv2d_geometry({8, 8, 32, 32}, {32, 8, 5, 5}, 2, 2, 2, 2, "test");
  const auto g2 = conv2d_geometry(g0.output_shape(), {20, 32, 5, 5}, 2, 2, 2, 2, "test");
  if (kernels::active_isa() == kernels::Isa::avx512) {
    for (const auto* g : {&g0, &g2}) {
      ASSERT_TRUE(kernels::polyphase_winograd_applies(*g));
      ASSERT_TRUE(kernels::lanes_conv_applies(*g));  // why the order matters
      ASSERT_TRUE(kernels::conv2d_fusion_applies(*g, {true, false}));
      ASSERT_FALSE(kernels::conv2d_fusion_applies(*g, {true, true}));
    }
    ASSERT_FALSE(kernels::conv2d_chain_applies(g0, {true, false}, g2, {}));
  }
  expect_fusion_keeps_bits(text, {8, 8, 32, 32});
}

// BatchNorm's kernels (lane-ordered double sums, batchnorm_fast.cpp) against the plain reference
// on every instruction set, at plane sizes that leave lane tails (L = 1 is BatchNorm1d on (N, C)),
// with batch and running statistics, with and without affine parameters; and the same bits on
// every instruction set.
TEST(BatchNormFast, MatchesReferenceOnEveryInstructionSet) {
  IsaGuard guard;
  std::vector<std::vector<Tensor>> per_isa;
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    std::mt19937 rng(91);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<Tensor> results;
    for (int trial = 0; trial < 30; ++trial) {
      const int64_t N = pick(1, 5), C = pick(1, 7), L = trial % 5 == 0 ? 1 : pick(2, 70);
      if (N * L < 2) continue;
      const bool affine = trial % 3 != 0, batch_stats = trial % 4 != 0;
      ThreadPool threads(1 + trial % 2);
      PoolScope scope(&threads);
      Tensor x = random_tensor({N, C, L}, rng);
      for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 3.0f + 2.0f * x.data()[i];
      const Tensor gamma = random_tensor({C}, rng), beta = random_tensor({C}, rng);
      const Tensor gy = random_tensor({N, C, L}, rng);
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      std::vector<double> m_ref(C), v_ref(C), m(C), v(C), inv(C);
      reference::batch_norm_statistics(N, C, L, x.data(), m_ref.data(), v_ref.data());
      kernels::batch_norm_statistics(N, C, L, x.data(), m.data(), v.data());
      const std::string where =
          std::string(kernels::isa_name(isa)) + " trial " + std::to_string(trial);
      for (int64_t c = 0; c < C; ++c) {
        ASSERT_NEAR(m[c], m_ref[c], 1e-12 * (1 + std::abs(m_ref[c]))) << where;
        ASSERT_NEAR(v[c], v_ref[c], 1e-12 * (1 + v_ref[c])) << where;
        inv[c] = 1.0 / std::sqrt(v[c] + 1e-5);
      }
      Tensor y_ref({N, C, L}), y({N, C, L}, NAN);
      reference::batch_norm_normalize(N, C, L, x.data(), m.data(), inv.data(), g, b, y_ref.data());
      kernels::batch_norm_normalize(N, C, L, x.data(), m.data(), inv.data(), g, b, false, y.data());
      EXPECT_TRUE(same_bits(y, y_ref)) << where;  // elementwise: the reference's formula exactly
      Tensor gx_ref({N, C, L}), gg_ref({C}, 0.5f), gb_ref({C}, 0.25f);
      Tensor gx({N, C, L}, NAN), gg({C}, 0.5f), gb({C}, 0.25f);
      reference::batch_norm_backward(N, C, L, x.data(), m.data(), inv.data(), g, gy.data(),
                                     batch_stats, gx_ref.data(), gg_ref.data(), gb_ref.data());
      kernels::batch_norm_backward(N, C, L, x.data(), m.data(), inv.data(), g, b, gy.data(), false,
                                   batch_stats, gx.data(), gg.data(), gb.data());
      EXPECT_TRUE(allclose(gx, gx_ref, 1e-5, 1e-6)) << where << " " << max_abs_diff(gx, gx_ref);
      EXPECT_TRUE(allclose(gg, gg_ref, 1e-5, 1e-6)) << where;
      EXPECT_TRUE(allclose(gb, gb_ref, 1e-5, 1e-6)) << where;
      results.insert(results.end(), {y, gx, gg, gb});
    }
    per_isa.push_back(results);
  }
  for (size_t i = 1; i < per_isa.size(); ++i)
    for (size_t k = 0; k < per_isa[0].size(); ++k)
      EXPECT_TRUE(same_bits(per_isa[i][k], per_isa[0][k])) << "instruction set " << i << " #" << k;
}

// Training's one-pass forward equals statistics, invstd and normalisation bit for bit, and each
// channel's forward and backward come out as they would for that channel alone: the blocks of
// channels the kernels read together (several at small planes, up to 64, a partial last one) and
// the fused ReLU's mask, recomputed from x, change no bit. Every instruction set, 1 and 2 threads.
TEST(BatchNormFast, BlocksOfChannelsGiveEachChannelItsOwnBits) {
  IsaGuard guard;
  std::mt19937 rng(93);
  const std::vector<std::array<int64_t, 3>> shapes = {
      {2, 70, 3}, {3, 130, 1}, {64, 20, 64}, {5, 9, 37}, {2, 3, 1030}};
  int trial = 0;
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    for (const auto& [N, C, L] : shapes) {
      ++trial;
      const bool relu = trial % 2 == 0, affine = trial % 3 != 0, batch_stats = trial % 4 != 1;
      ThreadPool threads(1 + trial % 2);
      PoolScope scope(&threads);
      Tensor x = random_tensor({N, C, L}, rng);
      const Tensor gy = random_tensor({N, C, L}, rng);
      const Tensor gamma = random_tensor({C}, rng), beta = random_tensor({C}, rng);
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      const std::string where = std::string(kernels::isa_name(isa)) + " " + std::to_string(N) +
                                "x" + std::to_string(C) + "x" + std::to_string(L);
      std::vector<double> m(C), v(C), inv(C), m2(C), v2(C), inv2(C);
      Tensor y({N, C, L}, NAN), y2({N, C, L}, NAN);
      kernels::batch_norm_forward_batch(N, C, L, x.data(), 1e-5, g, b, relu, m.data(), v.data(),
                                        inv.data(), y.data());
      kernels::batch_norm_statistics(N, C, L, x.data(), m2.data(), v2.data());
      for (int64_t c = 0; c < C; ++c) inv2[c] = 1.0 / std::sqrt(v2[c] + 1e-5);
      kernels::batch_norm_normalize(N, C, L, x.data(), m2.data(), inv2.data(), g, b, relu,
                                    y2.data());
      ASSERT_EQ(m, m2) << where;
      ASSERT_EQ(v, v2) << where;
      ASSERT_EQ(inv, inv2) << where;
      ASSERT_TRUE(same_bits(y, y2)) << where;
      Tensor gx({N, C, L}, NAN), gg({C}, 0.5f), gb({C}, 0.25f);
      kernels::batch_norm_backward(N, C, L, x.data(), m.data(), inv.data(), g, b, gy.data(), relu,
                                   batch_stats, gx.data(), gg.data(), gb.data());
      for (int64_t c = 0; c < C; ++c) {
        Tensor xc({N, 1, L}), gyc({N, 1, L}), yc({N, 1, L}, NAN), gxc({N, 1, L}, NAN);
        Tensor ggc({1}, 0.5f), gbc({1}, 0.25f);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t l = 0; l < L; ++l) {
            xc.data()[n * L + l] = x.data()[(n * C + c) * L + l];
            gyc.data()[n * L + l] = gy.data()[(n * C + c) * L + l];
          }
        double mc, vc, ic;
        kernels::batch_norm_forward_batch(N, 1, L, xc.data(), 1e-5, g ? g + c : nullptr,
                                          b ? b + c : nullptr, relu, &mc, &vc, &ic, yc.data());
        ASSERT_EQ(mc, m[c]) << where << " channel " << c;
        ASSERT_EQ(vc, v[c]) << where << " channel " << c;
        kernels::batch_norm_backward(N, 1, L, xc.data(), &mc, &ic, g ? g + c : nullptr,
                                     b ? b + c : nullptr, gyc.data(), relu, batch_stats, gxc.data(),
                                     ggc.data(), gbc.data());
        for (int64_t n = 0; n < N; ++n)
          for (int64_t l = 0; l < L; ++l) {
            const int64_t i = (n * C + c) * L + l, k = n * L + l;
            ASSERT_EQ(std::bit_cast<uint32_t>(yc.data()[k]), std::bit_cast<uint32_t>(y.data()[i]))
                << where << " y at " << i;
            ASSERT_EQ(std::bit_cast<uint32_t>(gxc.data()[k]), std::bit_cast<uint32_t>(gx.data()[i]))
                << where << " gx at " << i;
          }
        ASSERT_EQ(std::bit_cast<uint32_t>(ggc.data()[0]), std::bit_cast<uint32_t>(gg.data()[c]))
            << where << " channel " << c;
        ASSERT_EQ(std::bit_cast<uint32_t>(gbc.data()[0]), std::bit_cast<uint32_t>(gb.data()[c]))
            << where << " channel " << c;
      }
    }
  }
}

// BatchNorm with the ReLU after it fused in equals the two separate kernels bit for bit (the
// backward pass recomputes the ReLU's mask from x), with and without affine parameters, on every
// instruction set, on planes with lane tails.
TEST(BatchNormFusion, EqualsTheSeparateLayersBitForBit) {
  IsaGuard guard;
  std::mt19937 rng(92);
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    for (bool affine : {true, false})
      for (int64_t L : {1, 7, 64}) {
        const int64_t N = 3, C = 5;
        const Tensor x = random_tensor({N, C, L}, rng), gy = random_tensor({N, C, L}, rng);
        const Tensor gamma = random_tensor({C}, rng), beta = random_tensor({C}, rng);
        const float* g = affine ? gamma.data() : nullptr;
        const float* b = affine ? beta.data() : nullptr;
        std::vector<double> m(C), v(C), inv(C);
        kernels::batch_norm_statistics(N, C, L, x.data(), m.data(), v.data());
        for (int64_t c = 0; c < C; ++c) inv[c] = 1.0 / std::sqrt(v[c] + 1e-5);
        Tensor z({N, C, L}), r({N, C, L}), gz({N, C, L}), gx({N, C, L}), gg({C}), gb({C});
        kernels::batch_norm_normalize(N, C, L, x.data(), m.data(), inv.data(), g, b, false,
                                      z.data());
        kernels::relu_forward(z.numel(), z.data(), r.data());
        kernels::relu_backward(z.numel(), z.data(), gy.data(), gz.data());
        kernels::batch_norm_backward(N, C, L, x.data(), m.data(), inv.data(), g, b, gz.data(),
                                     false, true, gx.data(), gg.data(), gb.data());
        Tensor fr({N, C, L}, NAN), fgx({N, C, L}, NAN), fgg({C}), fgb({C});
        kernels::batch_norm_normalize(N, C, L, x.data(), m.data(), inv.data(), g, b, true,
                                      fr.data());
        kernels::batch_norm_backward(N, C, L, x.data(), m.data(), inv.data(), g, b, gy.data(), true,
                                     true, fgx.data(), fgg.data(), fgb.data());
        const std::string where = std::string(kernels::isa_name(isa)) + " L " + std::to_string(L) +
                                  (affine ? " affine" : "");
        EXPECT_TRUE(same_bits(fr, r)) << where;
        EXPECT_TRUE(same_bits(fgx, gx)) << where;
        EXPECT_TRUE(same_bits(fgg, gg)) << where;
        EXPECT_TRUE(same_bits(fgb, gb)) << where;
      }
  }
}

// An empty batch or plane: the kernels read nothing and give the reference's results (NaN
// statistics, no parameter gradient), without dividing by the empty extent.
TEST(BatchNormFast, EmptyBatchesGiveTheReferenceResults) {
  for (auto [N, L] : {std::array<int64_t, 2>{0, 5}, {3, 0}}) {
    const int64_t C = 70;
    std::vector<double> m(C), v(C), inv(C), m_ref(C), v_ref(C);
    std::vector<float> gamma(C, 1.0f), beta(C, 0.0f), gg(C, 0.5f), gb(C, 0.25f);
    float none[1] = {NAN};  // stands for the empty tensors
    reference::batch_norm_statistics(N, C, L, none, m_ref.data(), v_ref.data());
    kernels::batch_norm_forward_batch(N, C, L, none, 1e-5, gamma.data(), beta.data(), true,
                                      m.data(), v.data(), inv.data(), none);
    for (int64_t c = 0; c < C; ++c) {
      EXPECT_TRUE(std::isnan(m[c]) && std::isnan(m_ref[c])) << N << "x" << L;
      EXPECT_TRUE(std::isnan(v[c]) && std::isnan(v_ref[c])) << N << "x" << L;
    }
    kernels::batch_norm_backward(N, C, L, none, m.data(), inv.data(), gamma.data(), beta.data(),
                                 none, true, true, none, gg.data(), gb.data());
    EXPECT_TRUE(std::isnan(none[0]));  // nothing written
    EXPECT_EQ(gg, std::vector<float>(C, 0.5f));
    EXPECT_EQ(gb, std::vector<float>(C, 0.25f));
  }
}

// A residual network with BatchNorm (fusion reaches the Sequentials nested in Residual blocks,
// and joins a Residual with the ReLU after it) trains to the same bits with fusion on and off.
TEST(BatchNormFusion, ResidualNetworkTrainsIdenticallyFusedOrNot) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(8)\n"
      "  (2): ReLU()\n"
      "  (3): Residual(\n"
      "    (body): Sequential(\n"
      "      (0): Conv2d(8, 12, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
      "      (1): BatchNorm2d(12)\n"
      "      (2): ReLU()\n"
      "      (3): Conv2d(12, 12, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "      (4): BatchNorm2d(12)\n"
      "    )\n"
      "    (shortcut): Sequential(\n"
      "      (0): Conv2d(8, 12, kernel_size=(1, 1), stride=(2, 2), bias=False)\n"
      "      (1): BatchNorm2d(12)\n"
      "    )\n"
      "  )\n"
      "  (4): ReLU()\n"
      "  (5): Residual(\n"
      "    (body): Sequential(\n"
      "      (0): Conv2d(12, 12, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "      (1): BatchNorm2d(12)\n"
      "      (2): ReLU()\n"
      "    )\n"
      "    (shortcut): Identity()\n"
      "  )\n"
      "  (6): AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "  (7): Flatten(start_dim=1, end_dim=-1)\n"
      "  (8): Linear(in_features=12, out_features=10, bias=True)\n"
      ")\n";
  std::vector<std::vector<Tensor>> finals;
  for (bool fused : {false, true}) {
    Generator gen(5);
    auto model = nn::parse_model(text, "resnet.txt", gen);
    model->set_fusion(fused);
    train_three_steps(*model, 1e-2, {6, 3, 12, 12});
    std::vector<Tensor> state;
    for (const auto& t : nn::state_dict(*model)) state.push_back(*t.value);
    finals.push_back(state);
  }
  ASSERT_EQ(finals[0].size(), finals[1].size());
  for (size_t i = 0; i < finals[0].size(); ++i)
    EXPECT_TRUE(same_bits(finals[0][i], finals[1][i])) << "state_dict entry " << i;
}

// Inference: Conv2d -> BatchNorm (running statistics) [-> ReLU [-> MaxPool2d(2)]] as one kernel
// per image gives the separate layers' bits, at the top level and inside Residual blocks, on every
// instruction set; backward after such a forward is refused.
// A BatchNorm over another number of channels than the convolution before it is not folded into
// it: inference reports the BatchNorm's shape error (folded, its statistics were read past their
// end).
TEST(BatchNormFusion, MismatchedChannelsAreAShapeErrorInInference) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
      "  (1): BatchNorm2d(16)\n"
      "  (2): ReLU()\n"
      ")\n";
  Generator gen(3);
  auto model = nn::parse_model(text, "m.txt", gen);
  model->eval();
  std::mt19937 rng(3);
  const Tensor x = random_tensor({8, 3, 12, 12}, rng);
  nn::InferenceScope inference(*model);
  EXPECT_NE(test::error_of([&] { model->forward(x); }).find("BatchNorm"), std::string::npos);
}

// A Flatten whose output does not fit the Linear after it is not fused (the Flatten runs and its
// output is kept): the Linear says what is wrong, as it does unfused.
TEST(ConvFusion, FlattenIntoAMismatchedLinearIsTheLinearsShapeError) {
  const std::string text =
      "Sequential(\n"
      "  (0): Flatten(start_dim=1, end_dim=-1)\n"
      "  (1): Linear(in_features=50, out_features=10, bias=True)\n"
      ")\n";
  Generator gen(3);
  auto model = nn::parse_model(text, "m.txt", gen);
  std::mt19937 rng(3);
  const Tensor x = random_tensor({4, 3, 4, 4}, rng);
  for (bool fused : {false, true}) {
    model->set_fusion(fused);
    const std::string e = test::error_of([&] { model->forward(x); });
    EXPECT_NE(e.find("Linear(in_features=50"), std::string::npos) << e;
    EXPECT_NE(e.find("[4, 48]"), std::string::npos) << e;
    EXPECT_EQ(model->activation(0).shape(), (Shape{4, 48}));  // the Flatten ran on its own
  }
}

TEST(BatchNormFusion, InferenceFoldsBatchNormIntoTheConvolutionBitForBit) {
  IsaGuard guard;
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (1): BatchNorm2d(8)\n"
      "  (2): ReLU()\n"
      "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
      "  (4): Residual(\n"
      "    (body): Sequential(\n"
      "      (0): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "      (1): BatchNorm2d(8, affine=False)\n"
      "      (2): ReLU()\n"
      "      (3): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "      (4): BatchNorm2d(8)\n"
      "    )\n"
      "    (shortcut): Identity()\n"
      "  )\n"
      "  (5): Conv2d(8, 4, kernel_size=(1, 1), stride=(1, 1))\n"
      "  (6): BatchNorm2d(4)\n"
      "  (7): Flatten(start_dim=1, end_dim=-1)\n"
      ")\n";
  std::mt19937 rng(9);
  auto model = evaluation_model(text, 8, rng);
  const Tensor x = random_tensor({3, 3, 10, 14}, rng);
  for (auto isa : every_isa()) {
    kernels::set_isa_limit(isa);
    model->set_fusion(false);
    const Tensor plain = model->forward(x);
    Tensor folded;
    {
      nn::InferenceScope inference(*model);
      folded = model->forward(x);
      EXPECT_NE(test::error_of([&] {
                  model->backward(Tensor(folded.shape(), 1.0f));
                }).find("inference only"),
                std::string::npos);
    }
    EXPECT_FALSE(model->inference());
    EXPECT_TRUE(same_bits(folded, plain)) << kernels::isa_name(isa);
  }
}
