#include <gtest/gtest.h>

#include "convlab/tensor/tensor.h"
#include "fixture.h"

using namespace convlab;

// Every case's repr must equal PyTorch's to the character (tools/make_golden.py, print_cases).
TEST(Print, MatchesPyTorchReprExactly) {
  const auto fixture = test::load_fixture("print.json");
  int checked = 0;
  for (const auto& [name, c] : fixture.at("cases").items()) {
    const Tensor t = test::tensor_from(c);
    EXPECT_EQ(repr(t), c.at("repr").get<std::string>()) << "case " << name;
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

TEST(Print, SizeRepr) {
  EXPECT_EQ(size_repr({1, 3, 3, 3}), "torch.Size([1, 3, 3, 3])");
}

TEST(Print, ViewsPrintTheirBlock) {
  Tensor w({2, 1, 2, 2});
  w[1][0] = tensor({{1, 2}, {3, 4}});
  EXPECT_EQ(repr(w[1]), "tensor([[[1., 2.],\n         [3., 4.]]])");
}
