#include <gtest/gtest.h>

#include "test_util.h"

#include <filesystem>
#include <fstream>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"

using namespace convlab;
using test::error_of;
namespace fs = std::filesystem;

namespace {

const std::string kCifar = std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin";
const std::string kMnist = std::string(CONVLAB_SOURCE_DIR) + "/data/mnist";

struct TempDir {
  fs::path path;
  TempDir()
      : path(fs::temp_directory_path() /
             ("convlab_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  void write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream(path / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
};

std::vector<uint8_t> be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

}  // namespace

TEST(Data, ShippedCifarSubsetLoads) {
  const auto train = data::load_cifar10(kCifar, true), test = data::load_cifar10(kCifar, false);
  EXPECT_EQ(train.size(), 5085);
  EXPECT_EQ(test.size(), 517);
  EXPECT_EQ(train.image_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(train.classes.at(1), "automobile");
  std::vector<int> counts(10);
  for (uint8_t l : train.labels) ++counts[l];
  for (int c : counts) EXPECT_GE(c, 470);  // data/README.md: every class has 470-546
}

TEST(Data, ShippedMnistSubsetLoads) {
  const auto train = data::load_mnist(kMnist, true);
  EXPECT_EQ(train.size(), 3678);
  EXPECT_EQ(train.image_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(data::load_dataset(kMnist, false).size(), 3678);
}

TEST(Data, CifarRejectsPartialRecordsAndBadLabels) {
  TempDir d;
  d.write("test_batch.bin", std::vector<uint8_t>(3073 * 2 - 1));
  EXPECT_NE(error_of([&] {
              data::load_cifar10(d.path.string(), false);
            }).find("not a whole number of 3073-byte"),
            std::string::npos);
  std::vector<uint8_t> bytes(3073 * 3);
  bytes[3073 * 2] = 10;
  d.write("test_batch.bin", bytes);
  const std::string msg = error_of([&] { data::load_cifar10(d.path.string(), false); });
  EXPECT_NE(msg.find("record 2 has label 10"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] {
              data::load_cifar10(d.path.string(), true);
            }).find("no CIFAR-10 training files"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { data::load_dataset("/nonexistent/convlab", true); }).find("does not exist"),
      std::string::npos);
}

TEST(Data, MnistRejectsWrongMagicCountsAndLabels) {
  TempDir d;
  auto images = [](uint32_t magic, uint32_t n, size_t payload) {
    std::vector<uint8_t> b;
    for (uint32_t v : {magic, n, 2u, 2u}) {
      auto w = be32(v);
      b.insert(b.end(), w.begin(), w.end());
    }
    b.resize(16 + payload);
    return b;
  };
  auto labels = [](uint32_t magic, uint32_t n, uint8_t value) {
    std::vector<uint8_t> b = be32(magic);
    auto w = be32(n);
    b.insert(b.end(), w.begin(), w.end());
    b.resize(8 + n, value);
    return b;
  };
  d.write("train-images-idx3-ubyte", images(2049, 3, 12));
  d.write("train-labels-idx1-ubyte", labels(2049, 3, 1));
  EXPECT_NE(error_of([&] {
              data::load_mnist(d.path.string(), true);
            }).find("magic number 2049; expected 2051"),
            std::string::npos);
  d.write("train-images-idx3-ubyte", images(2051, 3, 11));
  EXPECT_NE(error_of([&] { data::load_mnist(d.path.string(), true); }).find("header says 3 images"),
            std::string::npos);
  d.write("train-images-idx3-ubyte", images(2051, 3, 12));
  d.write("train-labels-idx1-ubyte", labels(2049, 2, 1));
  EXPECT_NE(
      error_of([&] { data::load_mnist(d.path.string(), true); }).find("2 labels for 3 images"),
      std::string::npos);
  d.write("train-labels-idx1-ubyte", labels(2049, 3, 12));
  EXPECT_NE(error_of([&] { data::load_mnist(d.path.string(), true); }).find("label 0 is 12"),
            std::string::npos);
  d.write("train-labels-idx1-ubyte", labels(2049, 3, 7));
  EXPECT_EQ(data::load_mnist(d.path.string(), true).size(), 3);
}

TEST(Data, LoaderBatchesShufflesAndKeepsLastPartialBatch) {
  const auto test = data::load_cifar10(kCifar, false);
  Generator gen(3);
  data::DataLoader loader(test, 64, true, &gen);
  EXPECT_EQ(loader.num_batches(), 9);  // 517 = 8 * 64 + 5
  loader.start_epoch();
  const auto first_order = loader.order();
  std::vector<int> seen(517);
  Tensor x;
  std::vector<int64_t> y;
  int64_t batches = 0, last = 0;
  while (loader.next(x, y)) {
    ++batches;
    last = x.size(0);
    EXPECT_EQ(static_cast<int64_t>(y.size()), x.size(0));
  }
  for (int64_t i : first_order) ++seen[static_cast<size_t>(i)];
  for (int s : seen) EXPECT_EQ(s, 1);  // a permutation
  EXPECT_EQ(batches, 9);
  EXPECT_EQ(last, 5);
  // Values are x / 255 of the stored bytes, labels as stored.
  const int64_t idx = first_order[512];
  EXPECT_EQ(x(0, 2, 31, 31), static_cast<float>(test.image(idx)[3071]) / 255.0f);
  EXPECT_EQ(y[0], test.labels[static_cast<size_t>(idx)]);
  loader.start_epoch();
  EXPECT_NE(loader.order(), first_order);  // a new order each epoch
  Generator same(3);
  data::DataLoader again(test, 64, true, &same);
  again.start_epoch();
  EXPECT_EQ(again.order(), first_order);  // the seed fixes it
}
