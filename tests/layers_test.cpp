// Module-level checks of the layers' forward/backward plumbing (the ops themselves are gradient-
// checked in gradcheck_test.cpp): shapes, that backward writes every input-gradient element, and
// that parameter gradients accumulate across calls, as PyTorch's .grad does.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "convlab/error.h"
#include "convlab/nn/layers.h"
#include "convlab/nn/sequential.h"
#include "test_util.h"

using namespace convlab;
using test::random_tensor;

TEST(Layers, FlattenAndChannelSumForwardBackward) {
  std::mt19937 rng(1);
  const Tensor x = random_tensor({2, 3, 4, 5}, rng);
  nn::Flatten flatten;
  Tensor y, gx(Shape{1}, NAN);
  flatten.forward(x, y);
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(y(1, 59), x(1, 2, 3, 4));
  const Tensor gy = random_tensor({2, 60}, rng);
  flatten.backward(x, y, gy, &gx);
  EXPECT_EQ(gx.shape(), x.shape());
  EXPECT_EQ(gx(1, 2, 3, 4), gy(1, 59));

  nn::ChannelSum sum;
  sum.forward(x, y);
  EXPECT_EQ(y.shape(), (Shape{2, 1, 4, 5}));
  EXPECT_FLOAT_EQ(y(1, 0, 2, 3), x(1, 0, 2, 3) + x(1, 1, 2, 3) + x(1, 2, 2, 3));
  const Tensor gs = random_tensor({2, 1, 4, 5}, rng);
  Tensor gsx(Shape{1}, NAN);
  sum.backward(x, y, gs, &gsx);
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_EQ(gsx(1, c, 2, 3), gs(1, 0, 2, 3));  // each channel gets the gradient
  EXPECT_THROW(flatten.backward(x, y, Tensor({2, 7}), &gx), ShapeError);
}

TEST(Layers, BackwardWritesEveryInputGradientAndAccumulatesParameterGradients) {
  std::mt19937 rng(2);
  Generator gen(0);
  nn::Sequential m;
  m.push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1).stride(2), gen));
  m.push_back(std::make_shared<nn::ReLU>());
  m.push_back(std::make_shared<nn::MaxPool2d>(2));
  m.push_back(std::make_shared<nn::Flatten>());
  m.push_back(std::make_shared<nn::Linear>(12, 4, true, gen));
  const Tensor x = random_tensor({3, 2, 9, 7}, rng);
  const Tensor& out = m.forward(x);
  ASSERT_EQ(out.shape(), (Shape{3, 4}));
  const Tensor gy = random_tensor(out.shape(), rng);
  Tensor gx(x.shape(), NAN);  // NaN everywhere: an element backward forgets stays NaN
  m.zero_grad();
  m.backward(gy, &gx);
  for (int64_t i = 0; i < gx.numel(); ++i) ASSERT_TRUE(std::isfinite(gx.data()[i])) << i;
  std::vector<Tensor> once;
  for (auto* p : m.parameters()) once.push_back(p->grad);
  m.forward(x);
  m.backward(gy, &gx);
  const auto params = m.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    for (int64_t k = 0; k < once[i].numel(); ++k)
      ASSERT_FLOAT_EQ(params[i]->grad.data()[k], 2 * once[i].data()[k]) << "parameter " << i;
  EXPECT_EQ(m.parameter_names(),
            (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));
}
