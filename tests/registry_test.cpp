// The layer registry and a generic checker that every registered layer must pass: built from model
// text, run at a random shape in training and evaluation mode, its outputs and input gradient
// written in full (buffers pre-filled with NaN), its parameter gradients accumulating, and its
// repr read back to the same layer. Also the containers and the model-text forms around them.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/sequential.h"
#include "test_util.h"

using namespace convlab;
using test::random_tensor;

namespace {

// One sample per registered layer: model text and an input shape it accepts.
const std::map<std::string, std::pair<std::string, Shape>>& samples() {
  static const std::map<std::string, std::pair<std::string, Shape>> s = {
      {"AdaptiveAvgPool2d", {"AdaptiveAvgPool2d((3, 2))", {2, 3, 7, 5}}},
      {"AvgPool2d",
       {"AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)",
        {2, 2, 7, 9}}},
      {"BatchNorm1d", {"BatchNorm1d(5, momentum=None)", {4, 5, 3}}},
      {"BatchNorm2d", {"BatchNorm2d(3, eps=0.001)", {3, 3, 4, 5}}},
      {"ChannelSum", {"ChannelSum()", {2, 3, 4, 4}}},
      {"Conv2d", {"Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=1)", {2, 3, 7, 6}}},
      {"Dropout", {"Dropout(p=0.3)", {3, 7}}},
      {"Flatten", {"Flatten()", {2, 3, 2, 2}}},
      {"Identity", {"Identity()", {2, 5}}},
      {"LeakyReLU", {"LeakyReLU(negative_slope=0.2)", {2, 3, 3, 3}}},
      {"Linear", {"Linear(6, 4)", {3, 6}}},
      {"MaxPool2d", {"MaxPool2d(3, stride=2, padding=1)", {2, 2, 9, 8}}},
      {"ReLU", {"ReLU()", {2, 9}}},
  };
  return s;
}

}  // namespace

TEST(Registry, EveryLayerPassesTheGenericChecks) {
  const auto& registry = nn::LayerRegistry::builtin();
  std::mt19937 rng(11);
  for (const std::string& name : registry.names()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(samples().count(name)) << "no sample for registered layer " << name;
    const auto& [text, shape] = samples().at(name);
    Generator gen(3);
    auto model = nn::parse_model(text + "\n", name, gen);
    ASSERT_EQ(model->size(), 1u);
    // The repr is PyTorch's form, and reads back to a layer with the same repr.
    Generator gen2(3);
    EXPECT_EQ(nn::parse_model((*model)[0].repr(), name, gen2)->operator[](0).repr(),
              (*model)[0].repr());
    const Tensor x = random_tensor(shape, rng);
    for (bool training : {true, false}) {
      model->train(training);
      const Tensor& y = model->forward(x);
      EXPECT_EQ(y.shape(), model->output_shape(shape));
      for (int64_t i = 0; i < y.numel(); ++i) ASSERT_TRUE(std::isfinite(y.data()[i])) << i;
      const Tensor gy = random_tensor(y.shape(), rng);
      Tensor gx(x.shape(), NAN);  // an element backward forgets stays NaN
      model->zero_grad();
      model->backward(gy, &gx);
      for (int64_t i = 0; i < gx.numel(); ++i) ASSERT_TRUE(std::isfinite(gx.data()[i])) << i;
      // Parameter gradients accumulate: a second identical pass doubles them (evaluation mode,
      // where nothing is drawn or updated between the passes).
      if (!training) {
        std::vector<Tensor> once;
        for (auto* p : model->parameters()) once.push_back(p->grad);
        model->forward(x);
        model->backward(gy, &gx);
        const auto params = model->parameters();
        for (size_t i = 0; i < params.size(); ++i)
          for (int64_t k = 0; k < once[i].numel(); ++k)
            ASSERT_FLOAT_EQ(params[i]->grad.data()[k], 2 * once[i].data()[k]);
      }
    }
  }
}

TEST(Registry, PythonReprOfReals) {
  EXPECT_EQ(nn::python_repr(1e-5), "1e-05");
  EXPECT_EQ(nn::python_repr(0.1), "0.1");
  EXPECT_EQ(nn::python_repr(0.01), "0.01");
  EXPECT_EQ(nn::python_repr(0.5), "0.5");
  EXPECT_EQ(nn::python_repr(1.0), "1.0");
  EXPECT_EQ(nn::python_repr(0.0001), "0.0001");
  EXPECT_EQ(nn::python_repr(123.25), "123.25");
  EXPECT_EQ(nn::python_repr(1e16), "1e+16");
  EXPECT_EQ(nn::python_repr(-0.2), "-0.2");
  EXPECT_EQ(nn::python_repr(1.5e-7), "1.5e-07");
}

TEST(Registry, NestedContainersReadAndPrintAsPyTorch) {
  const std::string text =
      "Sequential(\n"
      "  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  (2): ReLU()\n"
      "  (3): Residual(\n"
      "    (body): Sequential(\n"
      "      (0): Conv2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
      "      (1): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "    )\n"
      "    (shortcut): Sequential(\n"
      "      (0): Conv2d(4, 6, kernel_size=(1, 1), stride=(2, 2), bias=False)\n"
      "      (1): BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "    )\n"
      "  )\n"
      "  (4): Residual(\n"
      "    (body): Identity()\n"
      "    (shortcut): Identity()\n"
      "  )\n"
      "  (5): AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "  (6): Flatten(start_dim=1, end_dim=-1)\n"
      "  (7): Dropout(p=0.5, inplace=False)\n"
      "  (8): Linear(in_features=6, out_features=10, bias=True)\n"
      ")";
  Generator gen(0);
  auto m = nn::parse_model(text, "net.txt", gen);
  EXPECT_EQ(m->repr(), text);
  std::vector<std::string> names;
  for (const auto& t : nn::state_dict(*m)) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight",
                                             "1.weight",
                                             "1.bias",
                                             "1.running_mean",
                                             "1.running_var",
                                             "1.num_batches_tracked",
                                             "3.body.0.weight",
                                             "3.body.1.weight",
                                             "3.body.1.bias",
                                             "3.body.1.running_mean",
                                             "3.body.1.running_var",
                                             "3.body.1.num_batches_tracked",
                                             "3.shortcut.0.weight",
                                             "3.shortcut.1.weight",
                                             "3.shortcut.1.bias",
                                             "3.shortcut.1.running_mean",
                                             "3.shortcut.1.running_var",
                                             "3.shortcut.1.num_batches_tracked",
                                             "8.weight",
                                             "8.bias"}));
  EXPECT_EQ(m->output_shape({2, 3, 8, 8}), (Shape{2, 10}));
  // Modes reach every descendant.
  m->eval();
  for (const auto& nm : nn::named_modules(*m)) EXPECT_FALSE(nm.module->is_training()) << nm.path;
  m->train();
  for (const auto& nm : nn::named_modules(*m)) EXPECT_TRUE(nm.module->is_training()) << nm.path;
}

TEST(Registry, BadInputNamesTheProblemAndThePlace) {
  auto error_of = [](const std::string& text) {
    Generator gen(0);
    try {
      const auto m = nn::parse_model(text, "m.txt", gen);
      m->output_shape({2, 3, 8, 8});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error_of("Dropout(p=1.0)\n").find("p must be at least 0 and less than 1"),
            std::string::npos);
  EXPECT_NE(error_of("Dropout(-0.1)\n").find("m.txt:1"), std::string::npos);
  EXPECT_NE(error_of("BatchNorm2d(4)\n")
                .find("expected input of shape [N, 4, H, W]; got shape [2, 3, 8, 8]"),
            std::string::npos);
  EXPECT_NE(error_of("AdaptiveAvgPool2d(9)\n").find("larger than the input"), std::string::npos);
  const std::string mismatch = error_of(
      "Sequential(\n  (0): Residual(\n    (body): Conv2d(3, 4, 3, padding=1)\n    (shortcut): "
      "Identity()\n  )\n)\n");
  EXPECT_NE(mismatch.find("m.txt:2 layer 0"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("[2, 4, 8, 8]"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("[2, 3, 8, 8]"), std::string::npos) << mismatch;
  EXPECT_NE(error_of("Sequential(\n  (0): Residual(\n    (shortcut): Identity()\n  )\n)\n")
                .find("expected (body): here"),
            std::string::npos);
  EXPECT_NE(error_of("LeakyReLU(negative_slope=abc)\n").find("must be a number"),
            std::string::npos);
}
