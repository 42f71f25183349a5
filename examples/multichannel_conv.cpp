// Multi-channel convolution in a few lines of convlab, as the notebook does it in PyTorch.
// Build: cmake --build build/release --target multichannel_conv; run:
// build/release/multichannel_conv
#include <iostream>

#include "convlab/nn/conv2d.h"

using namespace convlab;

int main() {
  // Several kernels on one input: one output map per kernel.
  nn::Conv2d conv1(nn::Conv2dOptions(/*in_channels=*/1, /*out_channels=*/3, /*kernel_size=*/3));
  conv1.weight()[0][0] = tensor({{1, 0, -1}, {2, 0, -2}, {1, 0, -1}});  // Sobel Gx
  conv1.weight()[1][0] = tensor({{1, 2, 1}, {0, 0, 0}, {-1, -2, -1}});  // Sobel Gy
  conv1.weight()[2][0] = Tensor::ones({3, 3});
  conv1.bias().fill_(0);

  Tensor image = Tensor::zeros({1, 1, 5, 5});
  for (int r = 0; r < 5; ++r) image(0, 0, r, 2) = 1;  // a vertical line
  const Tensor out = conv1(image);
  std::cout << size_repr(out.shape()) << "\n" << out << "\n\n";

  // Several input channels: each convolved with its own kernel, the results summed, plus the bias.
  Generator gen(
      0);  // seeded: PyTorch's default initialisation, the same numbers as torch.manual_seed(0)
  nn::Conv2d conv(nn::Conv2dOptions(2, 1, 3), gen);
  Tensor x(Shape{1, 2, 5, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(i % 7) - 3;

  Tensor by_hand = Tensor::full({1, 1, 3, 3}, conv.bias().item());
  for (int64_t c = 0; c < 2; ++c)
    by_hand = by_hand + functional::conv2d(x.slice(1, c, c + 1), conv.weight().slice(1, c, c + 1));
  const Tensor layer = conv(x);
  std::cout << "per-channel sum + bias:\n" << by_hand << "\nlayer output:\n" << layer << "\n";
  std::cout << "allclose: " << (allclose(by_hand, layer, 1e-5, 1e-5) ? "True" : "False") << "\n";
  return 0;
}
