#include <gtest/gtest.h>

#include <stb_image.h>

#include <filesystem>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/experiment/decompose.h"
#include "convlab/nn/conv2d.h"
#include "convlab/nn/models.h"
#include "convlab/nn/module.h"
#include "convlab/report/figure.h"

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

// The summed picture decompose writes shows the computed sum: its gray levels are the sum's values
// on the sum's min..max scale (tests/figure_test.cpp checks the layout itself).
TEST(Decompose, SummedPictureHoldsTheComputedSum) {
  Generator gen(1);
  auto model = nn::make_standard(gen);
  const auto d = experiment::decompose(*model, test_image(5), 0, 2);
  const std::string path = std::filesystem::temp_directory_path() /
                           ("convlab_sum_" + std::to_string(::getpid()) + ".png");
  report::write_heatmap_png(path, d.combined.data(), 32, 32, "Summed");
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &n, 1);
  ASSERT_NE(px, nullptr);
  float lo = d.combined.data()[0], hi = lo;
  for (int64_t i = 0; i < d.combined.numel(); ++i)
    lo = std::min(lo, d.combined.data()[i]), hi = std::max(hi, d.combined.data()[i]);
  using L = report::HeatmapLayout;
  int checked = 0;
  for (int r = 0; r < 32; r += 5)
    for (int c = 0; c < 32; c += 5) {
      // 3 px right of and below each cell centre: the axes\' tick marks stand on the centres.
      const int x = static_cast<int>((L::kLeft + (c + 0.5) / 32 * (L::kRight - L::kLeft)) * w) + 3;
      const int y =
          static_cast<int>(((1 - L::kTop) + (r + 0.5) / 32 * (L::kTop - L::kBottom)) * h) + 3;
      const double want = (d.combined(0, 0, r, c) - lo) / (hi - lo) * 255.0;
      EXPECT_NEAR(px[y * w + x], want, 3.0) << r << "," << c;
      ++checked;
    }
  stbi_image_free(px);
  if (!HasFailure()) std::filesystem::remove(path);
  EXPECT_EQ(checked, 49);
}

// Layers inside containers are addressed by their dotted names (as inspect and state_dict name
// them): every Conv2d of ResNet-20, in evaluation mode, decomposes to its own output; the hooks
// decompose sets leave nothing behind; wrong names list the conv layers by dotted name.
TEST(Decompose, NestedLayersByDottedName) {
  Generator gen(2);
  auto model = nn::build_model(std::string(CONVLAB_SOURCE_DIR) + "/models/resnet20.txt", gen);
  model->eval();
  const Tensor x = test_image(3);
  std::vector<std::string> convs;
  for (const auto& m : nn::named_modules(*model))
    if (dynamic_cast<nn::Conv2d*>(m.module)) convs.push_back(m.path);
  ASSERT_EQ(convs.size(), 21u);  // the stem, 18 in the blocks, 2 projection shortcuts
  for (const std::string& path : convs) {
    const auto d = experiment::decompose(*model, x, path, 1);
    EXPECT_TRUE(d.matches) << path << " diff " << d.max_abs_diff;
    EXPECT_EQ(d.layer, path);
  }
  for (const auto& m : nn::named_modules(*model)) EXPECT_FALSE(m.module->has_forward_hook());
  auto error_of = [&](const std::string& layer) -> std::string {
    try {
      experiment::decompose(*model, x, layer, 0);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of("3.body").find("layer 3.body is a Sequential, not a Conv2d (conv layers: 0, "
                                    "3.body.0, 3.body.3, 5.body.0"),
            std::string::npos);
  EXPECT_NE(error_of("9.shortcut.1").find("is BatchNorm2d(32"), std::string::npos);
  EXPECT_NE(error_of("3.body.9").find("layer 3.body.9 does not exist (conv layers: 0, 3.body.0"),
            std::string::npos);
  EXPECT_NE(error_of("9.shortcut.0").find("no error"), std::string::npos);
}
