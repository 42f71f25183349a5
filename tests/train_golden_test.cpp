// Training against PyTorch (tools/make_golden.py, train_cases): same seed, same batches; the first
// 20 optimizer steps give PyTorch's losses and final weights within 1e-4.
#include <gtest/gtest.h>

#include <cstdio>

#include "convlab/data/dataloader.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/optim/optimizer.h"
#include "fixture.h"

using namespace convlab;

namespace {

const data::Dataset& cifar_train() {
  static const data::Dataset ds =
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", true);
  return ds;
}

// Largest difference between a parameter and a param_record's every stride-th value.
double record_diff(const Tensor& t, const nlohmann::json& rec, const char* key = "values") {
  EXPECT_EQ(t.shape(), rec.at("shape").get<Shape>());
  const int64_t stride = rec.at("stride").get<int64_t>();
  const auto values = rec.at(key).get<std::vector<double>>();
  double worst = 0;
  for (size_t i = 0; i < values.size(); ++i)
    worst = std::max(
        worst,
        std::fabs(static_cast<double>(t.data()[static_cast<int64_t>(i) * stride]) - values[i]));
  return worst;
}

void run_case(const nlohmann::json& c) {
  const std::string what = c["model"].get<std::string>() + "/" + c["optimizer"].get<std::string>();
  Generator gen(c["seed"].get<uint64_t>());
  // The residual network is built from the text PyTorch printed for it: parsing, initialisation
  // order (BatchNorm draws nothing) and training-mode BatchNorm are all under test.
  auto model = c["model"] == "standard"   ? nn::make_standard(gen)
               : c["model"] == "sumfirst" ? nn::make_sumfirst(gen)
                                          : nn::parse_model(c["model_text"], "golden", gen);
  auto params = model->parameters();
  ASSERT_EQ(params.size(), c["initial"].size());
  for (size_t i = 0; i < params.size(); ++i)
    ASSERT_EQ(record_diff(params[i]->value, c["initial"][i]), 0.0)
        << what << ": initial parameter " << i;

  std::unique_ptr<optim::Optimizer> opt;
  if (c["optimizer"] == "adam") {
    opt = std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = c["recipe"]["lr"]});
  } else {
    opt = std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = c["recipe"]["lr"],
                                  .momentum = c["recipe"]["momentum"],
                                  .weight_decay = c["recipe"]["weight_decay"]});
  }
  nn::CrossEntropyLoss criterion;
  Tensor images, grad;
  std::vector<int64_t> targets;
  const auto losses = c["losses"].get<std::vector<double>>();
  for (size_t step = 0; step < losses.size(); ++step) {
    const auto idx = c["batches"][step].get<std::vector<int64_t>>();
    data::gather_batch(cifar_train(), idx.data(), static_cast<int64_t>(idx.size()), images,
                       targets);
    opt->zero_grad();
    const float loss = criterion.forward(model->forward(images), targets);
    criterion.backward(grad);
    model->backward(grad);
    opt->step();
    EXPECT_NEAR(loss, losses[step], 1e-4) << what << " step " << step;
  }
  // Final weights. Where PyTorch's own float32 run is within 1e-5 of its float64 run, convlab must
  // be within 1e-4 of PyTorch. Everywhere, convlab must be as close to the float64 (exact) answer
  // as PyTorch float32 is: within max(1e-4, 1.5 x PyTorch's own float32 error).
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& rec = c["final"][i];
    const double vs_torch = record_diff(params[i]->value, rec);
    const double vs_exact = record_diff(params[i]->value, rec, "values_f64");
    const double torch_error = rec["f32_vs_f64"].get<double>();
    std::printf(
        "%s param %zu: |convlab - torch32| %.2e  |convlab - torch64| %.2e  |torch32 - torch64| "
        "%.2e\n",
        what.c_str(), i, vs_torch, vs_exact, torch_error);
    if (torch_error < 1e-5) {
      EXPECT_LT(vs_torch, 1e-4) << what << ": final parameter " << i;
    }
    EXPECT_LE(vs_exact, std::max(1e-4, 1.5 * torch_error)) << what << ": final parameter " << i;
  }
}

}  // namespace

TEST(TrainGolden, StandardAdamMatchesPyTorch) {
  run_case(test::load_fixture("train.json")["cases"][0]);
}
TEST(TrainGolden, StandardSgdMomentumMatchesPyTorch) {
  run_case(test::load_fixture("train.json")["cases"][1]);
}
TEST(TrainGolden, SumfirstAdamMatchesPyTorch) {
  run_case(test::load_fixture("train.json")["cases"][2]);
}
TEST(TrainGolden, ResidualBatchNormAdamMatchesPyTorch) {
  run_case(test::load_fixture("train.json")["cases"][3]);
}
