#include <gtest/gtest.h>

#include <limits>

#include "convlab/error.h"
#include "convlab/tensor/tensor.h"

using namespace convlab;

TEST(Tensor, ShapeAndElementAccess) {
  Tensor t({2, 3});
  EXPECT_EQ(t.numel(), 6);
  t(1, 2) = 5.0f;
  EXPECT_EQ(t.data()[5], 5.0f);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_THROW(t(2, 0), ShapeError);
  EXPECT_THROW(t(0), ShapeError);
  EXPECT_THROW(Tensor({2, 2}, std::vector<float>{1, 2, 3}), ShapeError);
  EXPECT_THROW(Tensor({2, -1}), ValueError);
}

TEST(Tensor, ViewAssignmentCopiesAndChecksShape) {
  Tensor w({3, 1, 3, 3});
  w.set_label("conv1.weight");
  Tensor gx = tensor({{1, 0, -1}, {2, 0, -2}, {1, 0, -1}});
  w[0][0] = gx;
  EXPECT_EQ(w(0, 0, 1, 0), 2.0f);
  EXPECT_EQ(w(0, 0, 2, 2), -1.0f);
  EXPECT_EQ(w(1, 0, 1, 0), 0.0f);  // other kernels untouched
  try {
    w[2][0] = tensor({{1, 2}, {3, 4}});
    FAIL() << "a wrong-shaped assignment must throw";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv1.weight[2][0]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 2]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
  }
  EXPECT_THROW(w[3], ShapeError);
}

TEST(Tensor, SliceSumUnsqueeze) {
  Tensor x({2, 3, 2, 2});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(i);
  Tensor g = x.slice(1, 1, 2);  // x[:, 1:2]
  EXPECT_EQ(g.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(g(0, 0, 0, 0), 4.0f);
  EXPECT_EQ(g(1, 0, 1, 1), 12.0f + 4.0f + 3.0f);
  Tensor s = x.sum(1, true);
  EXPECT_EQ(s.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(s(0, 0, 0, 1), 1.0f + 5.0f + 9.0f);
  EXPECT_EQ(x.sum(1).shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(Tensor({3, 3}).unsqueeze(0).shape(), (Shape{1, 3, 3}));
  EXPECT_THROW(x.slice(1, 2, 4), ShapeError);
  EXPECT_THROW(x.sum(4), ShapeError);
}

TEST(Tensor, AllcloseFollowsPyTorchRule) {
  Tensor a = tensor({1.0f, 2.0f}), b = tensor({1.0f, 2.00001f});
  EXPECT_TRUE(allclose(a, b, 1e-5, 1e-8));
  EXPECT_FALSE(allclose(a, tensor({1.0f, 2.001f}), 1e-5, 1e-8));
  EXPECT_TRUE(allclose(a, tensor({1.0f, 2.001f}), 0, 1e-2));
  EXPECT_FALSE(allclose(a, tensor({1.0f, std::numeric_limits<float>::quiet_NaN()})));
  EXPECT_FALSE(allclose(a, tensor({1.0f, 2.0f, 3.0f})));
  EXPECT_DOUBLE_EQ(max_abs_diff(a, tensor({1.5f, 2.0f})), 0.5);
}
