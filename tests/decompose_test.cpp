#include <gtest/gtest.h>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/experiment/decompose.h"
#include "convlab/nn/conv2d.h"
#include "convlab/nn/models.h"

using namespace convlab;

namespace {

Tensor test_image(int64_t index) {
  static const auto ds =
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false);
  Tensor x;
  std::vector<int64_t> y;
  data::gather_batch(ds, &index, 1, x, y);
  return x;
}

}  // namespace

// Every filter of every conv layer of both models, on several images: the sum of per-channel
// convolutions plus the bias is the layer's output.
TEST(Decompose, EveryFilterOfEveryConvLayerOfBothModels) {
  for (const std::string name : {"standard", "sumfirst"}) {
    Generator gen(4);
    auto model = nn::build_model(name, gen);
    int checked = 0;
    for (int64_t image : {0, 7, 100}) {
      const Tensor x = test_image(image);
      for (size_t layer = 0; layer < model->size(); ++layer) {
        auto* conv = dynamic_cast<nn::Conv2d*>(&(*model)[layer]);
        if (!conv) continue;
        for (int64_t k = 0; k < conv->options().out_channels(); ++k) {
          const auto d = experiment::decompose(*model, x, layer, k);
          EXPECT_TRUE(d.matches) << name << " layer " << layer << " filter " << k << " diff "
                                 << d.max_abs_diff;
          EXPECT_EQ(static_cast<int64_t>(d.contributions.size()), conv->options().in_channels());
          ++checked;
        }
      }
    }
    EXPECT_EQ(checked, 3 * (8 + 16)) << name;
  }
}

TEST(Decompose, LeavingTheBiasOutIsCaught) {
  Generator gen(0);
  auto model = nn::make_standard(gen);
  const auto d = experiment::decompose(*model, test_image(0), 2, 5, /*include_bias=*/false);
  EXPECT_FALSE(d.matches);
  EXPECT_NEAR(d.max_abs_diff, std::fabs(d.bias), 1e-6);  // off by exactly the bias
}

TEST(Decompose, WrongLayerOrFilterNamesTheValidChoices) {
  Generator gen(0);
  auto model = nn::make_standard(gen);
  const Tensor x = test_image(0);
  auto error_of = [&](size_t layer, int64_t filter) -> std::string {
    try {
      experiment::decompose(*model, x, layer, filter);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of(1, 0).find("layer 1 is ReLU(), not a Conv2d (conv layers: 0, 2)"),
            std::string::npos);
  EXPECT_NE(error_of(9, 0).find("the model has 9 layers"), std::string::npos);
  EXPECT_NE(error_of(0, 8).find("has filters 0..7"), std::string::npos);
  EXPECT_NE(error_of(2, -1).find("out of range"), std::string::npos);
}
