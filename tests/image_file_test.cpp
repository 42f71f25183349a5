// Image files for convlab predict: PNG decoded to the data sets' own [0, 1] values, sizes and
// channels checked, and the bilinear resize equal to PyTorch's F.interpolate (fixture made by
// tools/make_golden.py).
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include "convlab/data/dataloader.h"
#include "convlab/data/dataset.h"
#include "convlab/data/image_file.h"
#include "fixture.h"
#include "test_util.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

using namespace convlab;

TEST(ImageFile, BilinearResizeEqualsPyTorchsInterpolate) {
  const auto fixture = test::load_fixture("resize.json");  // kept alive through the loop
  for (const auto& c : fixture.at("cases")) {
    const Tensor x = test::tensor_from(c.at("input")), want = test::tensor_from(c.at("output"));
    const Tensor y = data::resize_bilinear(x, want.size(2), want.size(3));
    EXPECT_TRUE(allclose(y, want, 1e-6, 1e-6))
        << to_string(x.shape()) << " -> " << to_string(want.shape()) << " max difference "
        << max_abs_diff(y, want);
  }
}

TEST(ImageFile, PngOfADataSetImageReadsAsTheDataSetDoes) {
  const auto ds =
      data::load_dataset(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false);
  const int64_t index = 5;
  Tensor batch;
  std::vector<int64_t> labels;
  data::gather_batch(ds, &index, 1, batch, labels);
  // The image as an interleaved RGB PNG, as any image program would write it.
  std::vector<uint8_t> rgb(32 * 32 * 3);
  const uint8_t* src = ds.image(index);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c) rgb[(y * 32 + x) * 3 + c] = src[(c * 32 + y) * 32 + x];
  const std::string dir =
      std::filesystem::temp_directory_path() / ("convlab_img_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string png = dir + "/i.png", gray = dir + "/g.png";
  ASSERT_TRUE(stbi_write_png(png.c_str(), 32, 32, 3, rgb.data(), 32 * 3));
  ASSERT_TRUE(stbi_write_png(gray.c_str(), 32, 32, 1, rgb.data(), 32));
  EXPECT_TRUE(test::same_bits(data::read_image(png, {3, 32, 32}, false), batch));
  // Another size: refused, or resized on request; another channel count: refused.
  const std::string size_msg = test::error_of([&] { data::read_image(png, {3, 16, 16}, false); });
  EXPECT_NE(
      size_msg.find("the image is 32x32 (width x height); the model takes 16x16 (pass --resize"),
      std::string::npos)
      << size_msg;
  EXPECT_EQ(data::read_image(png, {3, 16, 16}, true).shape(), (Shape{1, 3, 16, 16}));
  const std::string gray_msg = test::error_of([&] { data::read_image(gray, {3, 32, 32}, false); });
  EXPECT_NE(gray_msg.find("the image has 1 channel; the model takes 3"), std::string::npos)
      << gray_msg;
  std::filesystem::remove_all(dir);
}
