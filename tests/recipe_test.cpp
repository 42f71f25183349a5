// The training recipe beyond the notebook's: learning-rate schedules and AdamW against PyTorch
// (tools/make_golden.py), augmentation and normalisation, and the recipe kept in checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

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

// Adam's update runs as AVX-512, AVX2 or baseline code (the active instruction set): each must
// give the formula's float bits (PyTorch's order of operations), element by element, vector
// bodies and tails alike, for Adam, Adam with L2 weight decay and AdamW.
TEST(Recipe, AdamUpdateGivesTheFormulasBitsAtEveryInstructionSetAndSize) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const kernels::Isa best = kernels::best_isa();
  struct Restore {
    kernels::Isa isa;
    ~Restore() { kernels::set_isa_limit(isa); }
  } restore{best};
  for (kernels::Isa isa : {kernels::Isa::generic, kernels::Isa::avx2, kernels::Isa::avx512})
    for (const auto& [wd, decoupled] : {std::pair{0.0, false}, {0.01, false}, {0.01, true}})
      for (int64_t n : {1, 15, 16, 33, 16384 + 37}) {
        Tensor w(Shape{n}), m(Shape{n}), v(Shape{n});
        for (int64_t k = 0; k < n; ++k) w.data()[k] = normal(rng);
        nn::Parameter p{"w", w, Tensor(Shape{n})};
        const optim::AdamOptions o{.lr = 3e-3, .weight_decay = wd, .decoupled = decoupled};
        optim::Adam opt({&p}, o);
        kernels::set_isa_limit(isa);
        for (int step = 1; step <= 3; ++step) {
          for (int64_t k = 0; k < n; ++k)
            p.grad.data()[k] = normal(rng) * (k % 7 == 0 ? 1e-20f : 1);
          opt.step();
          const float step_size = static_cast<float>(o.lr / (1.0 - std::pow(o.beta1, step)));
          const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(o.beta2, step)));
          const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
          const float c1 = static_cast<float>(1.0 - o.beta1),
                      c2 = static_cast<float>(1.0 - o.beta2);
          const float l2 = decoupled ? 0.0f : static_cast<float>(wd);
          const float decay = static_cast<float>(1.0 - o.lr * wd);
          for (int64_t k = 0; k < n; ++k) {
            float& x = w.data()[k];
            if (decoupled) x = x * decay;
            const float g = l2 != 0 ? p.grad.data()[k] + l2 * x : p.grad.data()[k];
            m.data()[k] = m.data()[k] * b1 + c1 * g;
            v.data()[k] = v.data()[k] * b2 + c2 * g * g;
            x = x + (-step_size) * (m.data()[k] / (std::sqrt(v.data()[k]) / bc2_sqrt +
                                                   static_cast<float>(o.eps)));
          }
          ASSERT_EQ(std::memcmp(w.data(), p.value.data(), static_cast<size_t>(n) * sizeof(float)),
                    0)
              << "ISA " << static_cast<int>(kernels::active_isa()) << " n " << n << " weight decay "
              << wd << (decoupled ? " (AdamW)" : "") << " step " << step;
        }
      }
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
