// Layers and containers against PyTorch (tools/make_golden.py, module_cases): each module is built
// from the text PyTorch printed for it (so parsing accepts it and the repr equals it), given
// PyTorch's random parameters and buffers, and run in training mode (output, input and parameter
// gradients, running statistics after) and in evaluation mode.
#include <gtest/gtest.h>

#include <map>

#include "convlab/nn/models.h"
#include "convlab/nn/module.h"
#include "fixture.h"

using namespace convlab;

namespace {

// Largest |a - b| / (1 + |b|) over two tensors of the same shape: absolute for values up to 1,
// relative above (a deep network's outputs and gradients reach tens).
double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double worst = 0;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) {
    const double want = b.data()[i];
    worst =
        std::max(worst, std::fabs(static_cast<double>(a.data()[i]) - want) / (1 + std::fabs(want)));
  }
  return worst;
}

std::map<std::string, Tensor*> by_name(nn::Module& m) {
  std::map<std::string, Tensor*> all;
  for (const nn::NamedTensor& t : nn::state_dict(m)) all[t.name] = t.value;
  return all;
}

void run_case(const nlohmann::json& c) {
  const std::string name = c["name"];
  SCOPED_TRACE(name);
  Generator gen(0);
  // Where PyTorch's print loses options (AvgPool2d's ceil_mode), convlab's fuller text is given.
  const std::string text = c.value("convlab_text", c["model_text"].get<std::string>());
  // A lone layer is written as a one-layer model; containers are parsed as they are.
  const bool whole = text.rfind("Sequential(", 0) == 0;
  auto model = nn::parse_model(whole ? text : "Sequential(\n  (0): " + text + "\n)", name, gen);
  nn::Module& m = whole ? static_cast<nn::Module&>(*model) : (*model)[0];
  EXPECT_EQ(m.repr(), text);
  if (!c.contains("convlab_text")) {  // PyTorch's own print reads back to itself
    Generator again(0);
    auto m2 = nn::parse_model(whole ? text : "Sequential(\n  (0): " + text + "\n)", name, again);
    EXPECT_EQ(whole ? m2->repr() : (*m2)[0].repr(), text);
  }
  // PyTorch's parameters and buffers, every state_dict key matched both ways.
  auto state = by_name(m);
  ASSERT_EQ(state.size(), c["state"].size());
  for (const auto& [key, rec] : c["state"].items()) {
    ASSERT_TRUE(state.count(key)) << key;
    *state[key] = test::tensor_from(rec);
  }
  const Tensor x = test::tensor_from(c["input"]);
  for (const char* mode : {"train", "eval"}) {
    SCOPED_TRACE(mode);
    const auto& r = c[mode];
    model->train(std::string(mode) == "train");
    for (nn::Parameter* p : model->parameters()) p->grad.fill_(0.0f);
    const Tensor& y = model->forward(x);
    EXPECT_LT(max_diff(y, test::tensor_from(r["output"])), 2e-5);
    Tensor gx;
    model->backward(test::tensor_from(r["grad_output"]), &gx);
    EXPECT_LT(max_diff(gx, test::tensor_from(r["grad_input"])), 2e-5);
    std::map<std::string, nn::Parameter*> params;
    {
      size_t i = 0;
      const auto names = model->parameter_names();
      for (nn::Parameter* p : model->parameters()) params[names[i++]] = p;
    }
    for (const auto& [key, rec] : r["grads"].items()) {
      const std::string full = whole ? key : "0." + key;
      ASSERT_TRUE(params.count(full)) << full;
      EXPECT_LT(max_diff(params[full]->grad, test::tensor_from(rec)), 1e-4) << key;
    }
    for (const auto& [key, rec] : r["state_after"].items())
      EXPECT_LT(max_diff(*state[key], test::tensor_from(rec)), 2e-6) << key;
  }
}

}  // namespace

TEST(ModulesGolden, EveryLayerAndContainerMatchesPyTorch) {
  const auto cases = test::load_fixture("modules.json")["cases"];
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) run_case(c);
}
