// The training recipe beyond the notebook's: learning-rate schedules and AdamW against PyTorch
// (tools/make_golden.py), augmentation and normalisation, and the recipe kept in checkpoints.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/optim/optimizer.h"
#include "convlab/train/schedule.h"
#include "convlab/train/trainer.h"
#include "fixture.h"

using namespace convlab;

TEST(Recipe, SchedulesGivePyTorchsLearningRateEveryEpoch) {
  const nlohmann::json fixture = test::load_fixture("schedules.json");  // outlives the loop
  for (const auto& c : fixture["cases"]) {
    const auto s = train::Schedule::parse(c["schedule"]);
    const int64_t epochs = c["epochs"];
    const auto lrs = c["lrs"].get<std::vector<double>>();
    for (int64_t e = 0; e < epochs; ++e)
      EXPECT_EQ(s.lr_at(c["lr"], e, epochs), lrs[static_cast<size_t>(e)])
          << c["schedule"] << " epoch " << e;
  }
  for (const char* bad :
       {"step", "step:0:0.5", "step:3", "step:3:x", "cosine:5", "linear", "step:3:-1"})
    EXPECT_THROW(train::Schedule::parse(bad), ValueError) << bad;
}

TEST(Recipe, AdamWMatchesPyTorch) {
  const nlohmann::json fixture = test::load_fixture("adamw.json");  // outlives the loop
  for (const auto& c : fixture["cases"]) {
    nn::Parameter p{"w", test::tensor_from(c["initial"]), Tensor(Shape{7, 5})};
    optim::Adam opt({&p}, optim::AdamOptions{
                              .lr = c["lr"], .weight_decay = c["weight_decay"], .decoupled = true});
    EXPECT_EQ(opt.name(), "adamw");
    for (size_t step = 0; step < c["grads"].size(); ++step) {
      p.grad = test::tensor_from(c["grads"][step]);
      opt.step();
      const Tensor want = test::tensor_from(c["after"][step]);
      for (int64_t i = 0; i < want.numel(); ++i)
        EXPECT_NEAR(p.value.data()[i], want.data()[i], 1e-6) << "step " << step << " element " << i;
    }
  }
}

namespace {

// Adam's update by its formula, element by element in float (PyTorch's order of operations), on
// w, m and v as they were before `step` (1-based) with gradient g.
void adam_formula(const optim::AdamOptions& o, int64_t step, const float* g_in, float* w, float* m,
                  float* v, int64_t n) {
  const float step_size = static_cast<float>(o.lr / (1.0 - std::pow(o.beta1, step)));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(o.beta2, step)));
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const float c1 = static_cast<float>(1.0 - o.beta1), c2 = static_cast<float>(1.0 - o.beta2);
  const float l2 = o.decoupled ? 0.0f : static_cast<float>(o.weight_decay);
  const float decay = static_cast<float>(1.0 - o.lr * o.weight_decay);
  for (int64_t k = 0; k < n; ++k) {
    float& x = w[k];
    if (o.decoupled) x = x * decay;
    const float g = l2 != 0 ? g_in[k] + l2 * x : g_in[k];
    m[k] = m[k] * b1 + c1 * g;
    v[k] = v[k] * b2 + c2 * g * g;
    x = x + (-step_size) * (m[k] / (std::sqrt(v[k]) / bc2_sqrt + static_cast<float>(o.eps)));
  }
}

// Sets the active instruction set for a scope, restoring the best one after.
struct IsaScope {
  explicit IsaScope(kernels::Isa isa) { kernels::set_isa_limit(isa); }
  ~IsaScope() { kernels::set_isa_limit(kernels::best_isa()); }
};

}  // namespace

// Adam's update runs as AVX-512, AVX2 or baseline code (the active instruction set): each must
// give the formula's float bits (PyTorch's order of operations), element by element, vector
// bodies and tails alike, for Adam, Adam with L2 weight decay and AdamW.
TEST(Recipe, AdamUpdateGivesTheFormulasBitsAtEveryInstructionSetAndSize) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (kernels::Isa isa : {kernels::Isa::generic, kernels::Isa::avx2, kernels::Isa::avx512})
    for (const auto& [wd, decoupled] : {std::pair{0.0, false}, {0.01, false}, {0.01, true}})
      for (int64_t n : {1, 15, 16, 33, 16384 + 37}) {
        Tensor w(Shape{n}), m(Shape{n}), v(Shape{n});
        for (int64_t k = 0; k < n; ++k) w.data()[k] = normal(rng);
        nn::Parameter p{"w", w, Tensor(Shape{n})};
        const optim::AdamOptions o{.lr = 3e-3, .weight_decay = wd, .decoupled = decoupled};
        optim::Adam opt({&p}, o);
        const IsaScope scope(isa);
        for (int step = 1; step <= 3; ++step) {
          for (int64_t k = 0; k < n; ++k)
            p.grad.data()[k] = normal(rng) * (k % 7 == 0 ? 1e-20f : 1);
          opt.step();
          adam_formula(o, step, p.grad.data(), w.data(), m.data(), v.data(), n);
          ASSERT_EQ(std::memcmp(w.data(), p.value.data(), static_cast<size_t>(n) * sizeof(float)),
                    0)
              << "ISA " << static_cast<int>(kernels::active_isa()) << " n " << n << " weight decay "
              << wd << (decoupled ? " (AdamW)" : "") << " step " << step;
        }
      }
}

// A weight whose gradient has stopped keeps a subnormal exp_avg (the AVX-512 update makes its
// products and quotients in double there, to spare the float unit's slow subnormal path): the
// formula's bits still, for states and gradients mixing zeros, subnormals, numbers near 2^-126
// and 2^-100, ordinary ones and infinities, on blocks of 16 that take each path.
TEST(Recipe, AdamUpdateGivesTheFormulasBitsOnSubnormalStates) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> pick(0, 9);
  std::uniform_int_distribution<uint32_t> mantissa(1, (1u << 23) - 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // A value of class c: 0 zero, 1-3 subnormal (a few units, any), 4 near 2^-126, 5 near 2^-100,
  // 6 near 2^-45, 7-9 ordinary.
  const auto value = [&](int c) {
    const float sign = rng() % 2 ? -1.0f : 1.0f;
    uint32_t bits = 0;
    switch (c) {
      case 0:
        return sign * 0.0f;
      case 1:
        bits = 1 + rng() % 5;
        break;
      case 2:
      case 3:
        bits = mantissa(rng);
        break;
      case 4:
        bits = (1u << 23) + rng() % 64;
        break;
      case 5:
        bits = ((127u - 100u) << 23) - 32 + rng() % 64;
        break;
      case 6:
        bits = ((127u - 45u) << 23) - 32 + rng() % 64;
        break;
      default:
        return normal(rng) * 1e-3f;
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return sign * f;
  };
  constexpr int64_t n = 16 * 40 + 5;
  for (kernels::Isa isa : {kernels::Isa::generic, kernels::Isa::avx2, kernels::Isa::avx512})
    for (const auto& [wd, decoupled, lr, eps] :
         {std::tuple{0.0, false, 3e-3, 1e-8},
          {0.01, false, 3e-3, 1e-8},
          {0.01, true, 3e-3, 1e-8},
          // a step size near 2^9 over an eps of 1e-30, and one of 1e12: where only the bounds on
          // denom and on step_size tell a lost step from one that is not
          {0.0, false, 500.0, 1e-30},
          {0.0, false, 1e12, 1e-8},
          // steps of up to 2^-76, the bound itself (step size 2^10, denom 2^-40), and a rate set
          // below zero afterwards (set_lr: the bound is on the step's magnitude)
          {0.0, false, 1000.0, 1e-12},
          {0.0, false, -1e5, 1e-12}}) {
      // Block by block, one of: every input ordinary but a few subnormal exp_avgs (the double
      // path), tiny gradients, exp_avg_sqs or weights as well (the float path), anything; or
      // stopped gradients with exp_avgs just under 2^-126 and exp_avg_sqs of 0, whose steps (up to
      // 2^-99 at the first learning rate) are lost in ordinary weights but change weights of 2^-95
      // to 2^-60, and larger ones at the others (the update may leave a step out only where it
      // provably is lost).
      Tensor w(Shape{n}), m(Shape{n}), v(Shape{n}), g(Shape{n});
      for (int64_t b = 0; b < n; b += 16) {
        const int kind = static_cast<int>(rng() % 4);
        if (kind == 3) {
          // Weights of 2^-30 to 2^-50 in the whole block, of 2^-51 to 2^-60, of 2^-51 to 2^-95, or
          // of any of these: a step is left out only in blocks whose every such lane may lose it.
          const auto [lowest, span] = std::array<std::pair<int, int>, 4>{
              {{30, 21}, {51, 10}, {51, 45}, {30, 66}}}[rng() % 4];
          for (int64_t k = b; k < std::min(n, b + 16); ++k) {
            const uint32_t top = (1u << 23) - 1 - rng() % 1024;  // a subnormal near 2^-126
            m.data()[k] = (rng() % 2 ? -1.0f : 1.0f) * std::bit_cast<float>(top);
            g.data()[k] = pick(rng) < 8 ? 0.0f : value(7);
            v.data()[k] = pick(rng) < 7 ? 0.0f : std::fabs(value(7));
            const int e = lowest + static_cast<int>(rng() % span);
            w.data()[k] = pick(rng) < 6 ? std::ldexp(1.0f + normal(rng) * 0.1f, -e) : value(7);
          }
          continue;
        }
        for (int64_t k = b; k < std::min(n, b + 16); ++k) {
          const auto draw = [&](bool quiet) {
            return value(quiet ? 7 + pick(rng) % 3 : pick(rng));
          };
          m.data()[k] = value(kind == 0 && pick(rng) < 5 ? 7 : pick(rng));
          g.data()[k] = kind == 0 ? (pick(rng) < 5 ? 0.0f : draw(true)) : draw(false);
          v.data()[k] = std::fabs(kind == 0 ? draw(true) : draw(false));
          // Some zero weights there, so that the step itself (often subnormal when exp_avg is)
          // is the new weight, not lost in an ordinary one.
          w.data()[k] = kind == 0 ? (pick(rng) < 3 ? value(0) : draw(true)) : draw(false);
        }
      }
      w.data()[3] = std::numeric_limits<float>::infinity();
      g.data()[20] = -std::numeric_limits<float>::infinity();
      nn::Parameter p{"w", w, g};
      const optim::AdamOptions o{.lr = lr, .eps = eps, .weight_decay = wd, .decoupled = decoupled};
      optim::Adam opt(
          {&p}, {.lr = std::fabs(lr), .eps = eps, .weight_decay = wd, .decoupled = decoupled});
      opt.set_lr(lr);
      const IsaScope scope(isa);
      opt.load_state_tensors(
          {{"step", Tensor({1}, std::vector<float>{500})}, {"0.exp_avg", m}, {"0.exp_avg_sq", v}});
      for (int step = 501; step <= 503; ++step) {
        opt.step();
        adam_formula(o, step, g.data(), w.data(), m.data(), v.data(), n);
        const auto state = opt.state_tensors();
        using Pair = std::tuple<const char*, const Tensor*, const Tensor*>;
        for (const auto& [name, want, got] :
             {Pair{"weight", &w, &p.value}, Pair{"exp_avg", &m, &state.at("0.exp_avg")},
              Pair{"exp_avg_sq", &v, &state.at("0.exp_avg_sq")}})
          for (int64_t k = 0; k < n; ++k)
            ASSERT_EQ(std::memcmp(want->data() + k, got->data() + k, sizeof(float)), 0)
                << name << " element " << k << " (" << want->data()[k] << " wanted, "
                << got->data()[k] << ") ISA " << static_cast<int>(kernels::active_isa())
                << " weight decay " << wd << (decoupled ? " (AdamW)" : "") << " lr " << lr
                << " step " << step;
      }
    }
}

namespace {

// SGD's update by its formula (PyTorch's order of operations, in float), on w and the momentum
// buffer as they were before the step; `first`: the step that makes the buffer.
void sgd_formula(const optim::SGDOptions& o, bool first, const float* g, float* w, float* buf,
                 int64_t n) {
  const float lr = static_cast<float>(o.lr), wd = static_cast<float>(o.weight_decay);
  const float mom = static_cast<float>(o.momentum), damp = static_cast<float>(1.0 - o.dampening);
  for (int64_t k = 0; k < n; ++k) {
    float d = wd != 0 ? g[k] + wd * w[k] : g[k];
    if (o.momentum != 0) {
      buf[k] = first ? d : buf[k] * mom + damp * d;
      d = o.nesterov ? d + mom * buf[k] : buf[k];
    }
    w[k] = w[k] - lr * d;
  }
}

}  // namespace

// SGD's update runs as AVX-512 (its products in double where an operand is tiny, so that a
// stopped weight's subnormal momentum buffer never meets the float unit's slow path), AVX2 or
// baseline code: each must give the formula's bits for buffers and gradients mixing zeros,
// subnormals, numbers near 2^-126, 2^-118 and 2^-100, ordinary ones, infinities and a NaN, with
// and without momentum, dampening, Nesterov and weight decay, learning rates from 1e-40 (itself
// subnormal) to 1e6, over tails and blocks of 16 of every mix, at the first step and after, in
// one chunk of the update and in several across two threads.
TEST(Recipe, SgdUpdateGivesTheFormulasBitsOnSubnormalStates) {
  std::mt19937 rng(17);
  std::uniform_int_distribution<uint32_t> mantissa(1, (1u << 23) - 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto value = [&](int c) {  // c: 0 zero, 1-2 subnormal, 3-5 near 2^-126/-118/-100, else
    const float sign = rng() % 2 ? -1.0f : 1.0f;
    if (c == 0) return sign * 0.0f;
    if (c >= 6) return sign * std::fabs(normal(rng)) * 1e-2f;
    uint32_t bits = c == 1 ? 1 + rng() % 5 : c == 2 ? mantissa(rng) : 0;
    if (c >= 3) bits = ((127u - std::array<uint32_t, 3>{126, 118, 100}[c - 3]) << 23) + rng() % 64;
    return sign * std::bit_cast<float>(bits);
  };
  std::uniform_int_distribution<int> pick(0, 8);
  ThreadPool pool(2);
  int cases = 0;
  for (kernels::Isa isa : {kernels::Isa::generic, kernels::Isa::avx2, kernels::Isa::avx512})
    for (const int64_t n : {int64_t{16 * 30 + 7}, int64_t{16384 + 16 * 3 + 7}})
      for (const optim::SGDOptions& o :
           {optim::SGDOptions{.lr = 0.01, .momentum = 0.9},
            {.lr = 0.01, .momentum = 0.9, .nesterov = true},
            {.lr = 0.1, .momentum = 0.5, .dampening = 0.3, .weight_decay = 1e-4},
            {.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true},
            {.lr = 0.05},  // no momentum
            {.lr = 0.05, .weight_decay = 1e-3},
            {.lr = 1e-30, .momentum = 0.9},  // products subnormal from ordinary buffers
            {.lr = 1e-40, .momentum = 0.9},
            {.lr = 1e6, .momentum = 0.99, .nesterov = true}}) {
        // Blocks of 16: stopped gradients over decayed buffers (the double path in every product
        // with the buffer), tiny gradients and weights as well, or anything.
        Tensor w(Shape{n}), g(Shape{n}), buf(Shape{n});
        for (int64_t b = 0; b < n; b += 16) {
          const int kind = b == 0 ? 0 : static_cast<int>(rng() % 3);
          for (int64_t k = b; k < std::min(n, b + 16); ++k) {
            buf.data()[k] = value(kind == 0 ? 1 + pick(rng) % 5 : pick(rng));
            g.data()[k] = kind == 0 ? (pick(rng) < 6 ? 0.0f : value(6)) : value(pick(rng));
            w.data()[k] = kind == 2 ? value(pick(rng)) : value(6);
          }
        }
        // In the first block (stopped: the double path) an infinite and a NaN buffer; elsewhere
        // an infinite weight, gradient and buffer.
        buf.data()[3] = std::numeric_limits<float>::infinity();
        buf.data()[9] = std::numeric_limits<float>::quiet_NaN();
        g.data()[3] = g.data()[9] = 0.0f;
        w.data()[21] = std::numeric_limits<float>::infinity();
        g.data()[40] = -std::numeric_limits<float>::infinity();
        buf.data()[77] = -std::numeric_limits<float>::infinity();
        nn::Parameter p{"w", w, g};
        optim::SGD opt({&p}, o);
        if (kernels::best_isa() < isa) continue;  // a machine without it: nothing to compare
        const IsaScope scope(isa);
        ASSERT_EQ(kernels::active_isa(), isa);
        // The large size in several chunks of the update, spread over two threads.
        const PoolScope threads(n > 16384 ? &pool : nullptr);
        Tensor want_buf = buf;
        for (int step = 0; step < 3; ++step) {
          // The first step without a loaded buffer makes it (buf = d); then from the loaded one.
          const bool first = step == 0;
          if (step == 1 && o.momentum != 0) {
            opt.load_state_tensors(
                {{"step", Tensor({1}, std::vector<float>{1})}, {"0.momentum_buffer", buf}});
            want_buf = buf;
          }
          opt.step();
          sgd_formula(o, first, g.data(), w.data(), want_buf.data(), n);
          const auto state = opt.state_tensors();
          for (int64_t k = 0; k < n; ++k) {
            ASSERT_EQ(std::memcmp(w.data() + k, p.value.data() + k, sizeof(float)), 0)
                << "weight " << k << " (" << w.data()[k] << " wanted, " << p.value.data()[k]
                << ") ISA " << static_cast<int>(isa) << " n " << n << " lr " << o.lr << " step "
                << step;
            if (o.momentum == 0) continue;
            ASSERT_EQ(std::memcmp(want_buf.data() + k, state.at("0.momentum_buffer").data() + k,
                                  sizeof(float)),
                      0)
                << "buffer " << k << " ISA " << static_cast<int>(isa) << " lr " << o.lr << " step "
                << step;
          }
          ++cases;
        }
      }
  const int isas = 1 + (kernels::best_isa() >= kernels::Isa::avx2) +
                   (kernels::best_isa() >= kernels::Isa::avx512);
  EXPECT_EQ(cases, isas * 2 * 9 * 3);
}

namespace {

data::Dataset ramp_dataset() {
  data::Dataset ds;
  ds.name = "ramp";
  ds.channels = 3;
  ds.height = ds.width = 8;
  for (int n = 0; n < 10; ++n) {
    for (int i = 0; i < 3 * 64; ++i)
      ds.images.push_back(static_cast<uint8_t>((i * 7 + n * 13) % 251));
    ds.labels.push_back(static_cast<uint8_t>(n % 10));
  }
  ds.classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return ds;
}

}  // namespace

TEST(Recipe, AugmentationIsTorchvisionsAndIndependentOfThreads) {
  const data::Dataset ds = ramp_dataset();
  const auto t = data::Transform::parse("crop,flip", "0.5,0.25,0.125/0.5,0.25,2");
  std::vector<Tensor> batches[2];
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    PoolScope scope(&pool);
    Generator gen(9);
    data::DataLoader loader(ds, 4, true, &gen, &t);
    loader.start_epoch();
    Tensor x;
    std::vector<int64_t> y;
    while (loader.next(x, y)) batches[threads - 1].push_back(x);
  }
  ASSERT_EQ(batches[0].size(), batches[1].size());
  for (size_t b = 0; b < batches[0].size(); ++b)
    EXPECT_EQ(std::memcmp(batches[0][b].data(), batches[1][b].data(),
                          static_cast<size_t>(batches[0][b].numel()) * 4),
              0);
  // One image by hand: crop offsets (dy, dx) of the zero-padded image, mirrored, normalised.
  const int64_t idx = 3;
  Tensor x;
  std::vector<int64_t> y;
  const data::ImageDraw d{1, 6, true};
  data::gather_batch(ds, &idx, 1, x, y, &t, &d);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t col = 0; col < 8; ++col) {
        const int64_t sy = r + 1 - 4, sx = (7 - col) + 6 - 4;
        const float raw = sy >= 0 && sy < 8 && sx >= 0 && sx < 8
                              ? static_cast<float>(ds.image(idx)[(c * 8 + sy) * 8 + sx]) / 255.0f
                              : 0.0f;
        EXPECT_EQ(x(0, c, r, col), (raw - t.mean[c]) / t.std[c]) << c << " " << r << " " << col;
      }
  for (const std::pair<const char*, const char*>& bad :
       {std::pair{"rotate", ""}, {"", "0.5/0.5,0.5"}, {"", "0.5,0.5,0.5"}, {"", "1,1,1/1,0,1"}})
    EXPECT_THROW(data::Transform::parse(bad.first, bad.second), ValueError)
        << bad.first << bad.second;
}
