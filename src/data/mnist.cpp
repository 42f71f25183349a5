#include <cerrno>
#include <cstring>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"

namespace convlab::data {

namespace {

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

Dataset load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string image_path = dir + "/" + prefix + "-images-idx3-ubyte";
  const std::string label_path = dir + "/" + prefix + "-labels-idx1-ubyte";
  return parse_mnist(read_file(image_path, memory_limit_bytes(), "MNIST image file"),
                     read_file(label_path, memory_limit_bytes(), "MNIST label file"),
                     excerpt(image_path), excerpt(label_path), train);
}

Dataset parse_mnist(const std::vector<uint8_t>& img, const std::vector<uint8_t>& lab,
                    const std::string& image_path, const std::string& label_path, bool train) {
  if (img.size() < 16) throw IoError(image_path + ": too short for an idx3 header (16 bytes)");
  if (lab.size() < 8) throw IoError(label_path + ": too short for an idx1 header (8 bytes)");
  if (big_endian(img.data()) != 2051)
    throw IoError(image_path + ": magic number " + std::to_string(big_endian(img.data())) +
                  "; expected 2051 (idx3 images)");
  if (big_endian(lab.data()) != 2049)
    throw IoError(label_path + ": magic number " + std::to_string(big_endian(lab.data())) +
                  "; expected 2049 (idx1 labels)");
  const uint64_t n = big_endian(img.data() + 4), rows = big_endian(img.data() + 8),
                 cols = big_endian(img.data() + 12);
  const uint64_t nl = big_endian(lab.data() + 4);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw IoError(image_path + ": image size " + std::to_string(rows) + "x" + std::to_string(cols) +
                  " is not plausible");
  if (img.size() != 16 + n * rows * cols)
    throw IoError(image_path + ": header says " + std::to_string(n) + " images of " +
                  std::to_string(rows) + "x" + std::to_string(cols) + " (" +
                  std::to_string(16 + n * rows * cols) + " bytes); file has " +
                  std::to_string(img.size()) + " bytes");
  if (lab.size() != 8 + nl)
    throw IoError(label_path + ": header says " + std::to_string(nl) + " labels; file has " +
                  std::to_string(lab.size() - 8));
  if (nl != n)
    throw IoError(label_path + ": " + std::to_string(nl) + " labels for " + std::to_string(n) +
                  " images in " + image_path);
  Dataset ds;
  ds.name = std::string("MNIST ") + (train ? "train" : "test");
  ds.channels = 1;
  ds.height = static_cast<int64_t>(rows);
  ds.width = static_cast<int64_t>(cols);
  ds.images.assign(img.begin() + 16, img.end());
  ds.labels.assign(lab.begin() + 8, lab.end());
  for (size_t i = 0; i < ds.labels.size(); ++i)
    if (ds.labels[i] > 9)
      throw IoError(label_path + ": label " + std::to_string(i) + " is " +
                    std::to_string(ds.labels[i]) + "; MNIST labels are 0-9");
  ds.classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return ds;
}

Dataset load_dataset(const std::string& dir, bool train) {
  auto present = [&](const char* name) { return path_kind(dir + "/" + name) != PathKind::missing; };
  if (dir.empty()) throw IoError("data directory: the path is empty");
  switch (path_kind(dir)) {
    case PathKind::directory:
      break;
    case PathKind::missing:
      throw IoError("data directory " + excerpt(dir) + " does not exist");
    case PathKind::error:
      throw IoError("data directory " + excerpt(dir) + ": " + std::strerror(errno));
    default:
      throw IoError("data directory " + excerpt(dir) + " is not a directory");
  }
  if (present("test_batch.bin") || present("data_batch_1.bin")) return load_cifar10(dir, train);
  if (present("train-images-idx3-ubyte") || present("t10k-images-idx3-ubyte"))
    return load_mnist(dir, train);
  // The repository layout: data/cifar-10-batches-bin, data/mnist.
  if (path_kind(dir + "/cifar-10-batches-bin") == PathKind::directory)
    return load_cifar10(dir + "/cifar-10-batches-bin", train);
  throw IoError(excerpt(dir) +
                ": holds neither CIFAR-10 binary files (data_batch_1.bin, test_batch.bin) nor "
                "MNIST idx files");
}

}  // namespace convlab::data
