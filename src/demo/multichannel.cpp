#include "convlab/demo/multichannel.h"

#include <filesystem>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/nn/conv2d.h"
#include "convlab/report/figure.h"

namespace convlab::demo {

namespace {

// Writes pictures of 2-D maps into one directory, numbered in the order the walk-through makes
// them.
class Pictures {
 public:
  explicit Pictures(std::string dir) : dir_(std::move(dir)) {
    if (dir_.empty()) return;
    ensure_directory(dir_, "picture directory");
  }
  // Every channel of an (N=1, C, H, W) tensor, or a (C, H, W) one, titled "<what> channel c".
  void channels(const std::string& stem, const std::string& what, const Tensor& t) {
    const Shape& s = t.shape();
    const int64_t c = s[s.size() - 3], h = s[s.size() - 2], w = s[s.size() - 1];
    for (int64_t i = 0; i < c; ++i)
      map(stem + "_channel" + std::to_string(i), what + " channel " + std::to_string(i),
          t.data() + i * h * w, h, w);
  }
  void map(const std::string& stem, const std::string& title, const float* data, int64_t h,
           int64_t w) {
    if (dir_.empty()) return;
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%02d_", ++count_);
    report::write_heatmap_png(dir_ + "/" + prefix + stem + ".png", data, h, w, title);
  }
  int count() const { return count_; }

 private:
  std::string dir_;
  int count_ = 0;
};

void print_channels(std::ostream& out, const Tensor& t) {
  // for channel, image in enumerate(t[0]): print(image)
  Tensor copy = t;
  for (int64_t c = 0; c < t.size(1); ++c) out << copy[0][c] << "\n";
}

}  // namespace

int multichannel(std::ostream& out, const std::string& picture_dir) {
  Pictures pics(picture_dir);
  const Tensor Gx = tensor({{1.0, 0, -1.0}, {2.0, 0, -2.0}, {1.0, 0.0, -1.0}});
  const Tensor Gy = tensor({{1.0, 2.0, 1.0}, {0.0, 0.0, 0.0}, {-1.0, -2.0, -1.0}});

  out << "== Multiple output channels ==\n"
      << "conv1 = Conv2d(in_channels=1, out_channels=3, kernel_size=3): Sobel Gx, Sobel Gy and "
         "ones\n\n";
  nn::Conv2d conv1(nn::Conv2dOptions(1, 3, 3));
  conv1.weight()[0][0] = Gx;
  conv1.weight()[1][0] = Gy;
  conv1.weight()[2][0] = Tensor::ones({3, 3});
  conv1.bias().view() = tensor({0.0, 0.0, 0.0});  // bias[:] = torch.tensor([0.0, 0.0, 0.0])
  out << "conv1.bias:\n" << conv1.bias() << "\n\nconv1.weight, kernel by kernel:\n";
  for (int64_t k = 0; k < 3; ++k) out << conv1.weight()[k] << "\n";

  Tensor image = Tensor::zeros({1, 1, 5, 5});
  for (int64_t r = 0; r < 5; ++r) image(0, 0, r, 2) = 1;  // image[0, 0, :, 2] = 1
  out << "\nimage (a vertical line):\n" << image << "\n";
  pics.channels("image", "image", image);
  const Tensor out0 = conv1(image);
  out << "\nout = conv1(image); out.shape:\n"
      << size_repr(out0.shape()) << "\n\nout, channel by channel:\n";
  print_channels(out, out0);
  pics.channels("conv1_image", "conv1(image)", out0);

  Tensor image1 = Tensor::zeros({1, 1, 5, 5});
  for (int64_t c = 0; c < 5; ++c) image1(0, 0, 2, c) = 1;  // image1[0, 0, 2, :] = 1
  out << "\nimage1 (a horizontal line):\n" << image1 << "\n";
  pics.channels("image1", "image1", image1);
  const Tensor out1 = conv1(image1);
  out << "\nout1 = conv1(image1), channel by channel:\n";
  print_channels(out, out1);
  pics.channels("conv1_image1", "conv1(image1)", out1);

  out << "\n== Multiple input channels ==\n";
  Tensor image2 = Tensor::zeros({1, 2, 5, 5});
  for (int64_t c = 0; c < 5; ++c) {
    image2(0, 0, 2, c) = -2;
    image2(0, 1, 2, c) = 1;
  }
  out << "image2:\n" << image2 << "\n\nimage2, channel by channel:\n";
  print_channels(out, image2);
  pics.channels("image2", "image2", image2);

  const Tensor Gx1 = tensor({{0.0, 0.0, 0.0}, {0, 1.0, 0}, {0.0, 0.0, 0.0}});
  nn::Conv2d conv3(nn::Conv2dOptions(2, 1, 3));
  conv3.weight()[0][0] = 1 * Gx1;
  conv3.weight()[0][1] = -2 * Gx1;
  conv3.bias().fill_(0.0f);
  out << "\nconv3 = Conv2d(in_channels=2, out_channels=1, kernel_size=3); conv3.weight:\n"
      << conv3.weight() << "\n";
  const Tensor out3 = conv3(image2);
  out << "\nconv3(image2): each channel convolved with its own kernel, then summed:\n"
      << out3 << "\n";
  pics.channels("conv3_image2", "conv3(image2)", out3);

  out << "\n== Multiple input and multiple output channels ==\n";
  nn::Conv2d conv4(nn::Conv2dOptions(2, 3, 3));
  conv4.weight()[0][0] = tensor({{0.0, 0.0, 0.0}, {0, 0.5, 0}, {0.0, 0.0, 0.0}});
  conv4.weight()[0][1] = tensor({{0.0, 0.0, 0.0}, {0, 0.5, 0}, {0.0, 0.0, 0.0}});
  conv4.weight()[1][0] = tensor({{0.0, 0.0, 0.0}, {0, 1, 0}, {0.0, 0.0, 0.0}});
  conv4.weight()[1][1] = tensor({{0.0, 0.0, 0.0}, {0, -1, 0}, {0.0, 0.0, 0.0}});
  conv4.weight()[2][0] = Gx;
  conv4.weight()[2][1] = Gy;
  conv4.bias().fill_(0.0f);
  Tensor image4 = Tensor::zeros({1, 2, 5, 5});
  image4[0][0] = Tensor::ones({5, 5});
  image4(0, 1, 2, 2) = 1;
  out << "image4, channel by channel:\n";
  print_channels(out, image4);
  pics.channels("image4", "image4", image4);
  const Tensor z = conv4(image4);
  out << "\nz = conv4(image4):\n" << z << "\n";
  pics.channels("conv4_image4", "z = conv4(image4)", z);

  out << "\n== Practice question ==\n"
      << "Two one-channel convolutions, conv5 on imageA and conv6 on imageB, summed, equal the\n"
      << "two-channel convolution conv3 on image2 = [imageA, imageB]:\n";
  Tensor imageA = Tensor::zeros({1, 1, 5, 5}), imageB = Tensor::zeros({1, 1, 5, 5});
  for (int64_t c = 0; c < 5; ++c) {
    imageA(0, 0, 2, c) = -2;
    imageB(0, 0, 2, c) = 1;
  }
  nn::Conv2d conv5(nn::Conv2dOptions(1, 1, 3)), conv6(nn::Conv2dOptions(1, 1, 3));
  conv5.weight()[0][0] = 1 * Gx1;
  conv6.weight()[0][0] = -2 * Gx1;
  conv5.bias().fill_(0.0f);
  conv6.bias().fill_(0.0f);
  const Tensor sum56 = conv5(imageA) + conv6(imageB);
  out << "conv5(imageA) + conv6(imageB):\n" << sum56 << "\n";
  out << "equal to conv3(image2): " << (allclose(sum56, out3) ? "True" : "False")
      << " (largest absolute difference " << max_abs_diff(sum56, out3) << ")\n";
  pics.channels("conv5_plus_conv6", "conv5(imageA) + conv6(imageB)", sum56);
  if (pics.count()) out << "\n" << pics.count() << " pictures written to " << picture_dir << "\n";
  return pics.count();
}

}  // namespace convlab::demo
